"""The GIM loader as a process against the real broker and PostgreSQL (issue 7).

Every fact version the transforms emit for the ``day`` scenario (what the Stream Processor
writes to ``<prefix>.gsp.facts``, placeholders included, in emission order) is published to
a 6-partition fact topic with the key ``<table>:<id>``; ``gim-faust gim worker`` runs as a
separate process; the Info Mart must then equal ``expected.json`` row for row, with no extra
row, whatever happens on the way:

- a plain load (plus undecodable records on the topic, which are skipped);
- ``kill -9`` in the middle of loading, then a restart that must resume from the Info Mart's
  offsets, not Kafka's (Kafka's are deliberately reset to 0 before the restart);
- the whole topic published a second time: not one row changes;
- PostgreSQL stopped for 30 s in the middle of loading while records keep coming (a
  throwaway server, since the shared one serves other tests), then started again: nothing
  lost, nothing committed to Kafka and /readyz 503 meanwhile;
- two workers in one group, the second joining mid-load: each row written once, no deadlock;
- no database at all: the worker waits, not ready, and still stops at once on SIGTERM;
- the Info Mart URL with ``sslmode=verify-full`` against a server with a generated
  certificate (the throwaway server above is TLS-only).
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest

from gim_faust.topics import Topics
from tests.support import infomart
from tests.support import scenario as sc
from tests.support.gim_worker import (
    WorkerProcess,
    end_offsets,
    publish_facts,
    publish_records,
    set_group_offsets,
    wait_loaded,
)
from tests.support.pg_instance import PgInstance, make_certificates
from tests.support.waiting import wait_until

pytestmark = pytest.mark.integration

SCENARIO = "day"
PARTITIONS = 6


@pytest.fixture
async def fact_topic(make_topics: Any, topic_prefix: str) -> str:
    (name,) = await make_topics(Topics(topic_prefix).facts, partitions=PARTITIONS)
    return name


def _env(prefix: str, db_url: str, bootstrap: str, **extra: str) -> dict[str, str]:
    return {"GIM_TENANT": "acme", "GIM_TOPIC_PREFIX": prefix, "GIM_INFOMART_DB_URL": db_url,
            "GIM_KAFKA_BOOTSTRAP": bootstrap, "GIM_METRICS_PORT": "0", **extra}


def _assert_exact(conn: psycopg.Connection[Any]) -> None:
    problems = infomart.row_problems(conn, SCENARIO)
    assert not problems, f"{len(problems)} differences:\n" + "\n".join(problems[:40])


def _assert_offsets_match_topic(conn: psycopg.Connection[Any], prefix: str,
                                bootstrap: str) -> None:
    topics = Topics(prefix)
    assert infomart.stored_offsets(conn, topics.loader_group) == \
        end_offsets(bootstrap, topics.facts)


def test_the_day_scenario_loads_exactly(fact_topic: str, topic_prefix: str,
                                              fresh_db: str, kafka_bootstrap: str,
                                              versions: list[Any], tmp_path: Path) -> None:
    bad = [(b"interaction_fact:x", b"{not json"), (b"x", b'{"table": "no_such_table"}'),
           (b"interaction_fact:y", b'{"table": "interaction_fact", "interaction_id": "y"}'),
           (b"z", None)]
    publish_records(kafka_bootstrap, fact_topic, bad[:2])
    publish_facts(kafka_bootstrap, fact_topic, versions)
    publish_records(kafka_bootstrap, fact_topic, bad[2:])
    group = Topics(topic_prefix).loader_group
    with WorkerProcess(_env(topic_prefix, fresh_db, kafka_bootstrap),
                       tmp_path / "worker.log") as worker, infomart.connect(fresh_db) as conn:
        took = wait_loaded(conn, group, end_offsets(kafka_bootstrap, fact_topic), worker=worker)
        worker.wait_ready()
        _assert_exact(conn)
        _assert_offsets_match_topic(conn, topic_prefix, kafka_bootstrap)
        # Metrics: every record accounted for, lag gone, rows by table.
        assert worker.metric("gim_loader_records_total", outcome="bad") == len(bad)
        assert worker.metric("gim_loader_records_total", outcome="loaded") == len(versions)
        assert worker.metric("gim_loader_batches_total") >= 1
        assert worker.metric("gim_loader_last_load_timestamp_seconds") > time.time() - 120
        for partition in range(PARTITIONS):
            assert worker.metric("gim_loader_lag_records", topic=fact_topic,
                                 partition=str(partition)) == 0
        inserted = worker.metric("gim_loader_rows_total", table="interaction_fact",
                                 kind="inserted")
        assert inserted == len(sc.expected(SCENARIO)["interaction_fact"])
        assert "skipping a record that is not a fact" in worker.log_text()
        assert worker.stop() == 0
    print(f"loaded {len(versions)} fact versions in {took:.1f} s")


def test_kill_9_mid_load_resumes_from_the_info_marts_offsets(
        fact_topic: str, topic_prefix: str, fresh_db: str, kafka_bootstrap: str,
        versions: list[Any], tmp_path: Path) -> None:
    publish_facts(kafka_bootstrap, fact_topic, versions)
    ends = end_offsets(kafka_bootstrap, fact_topic)
    group = Topics(topic_prefix).loader_group
    # Small batches, so that loading takes long enough to be interrupted.
    env = _env(topic_prefix, fresh_db, kafka_bootstrap, GIM_LOADER_BATCH_ROWS="40")
    with infomart.connect(fresh_db) as conn:
        with WorkerProcess(env, tmp_path / "first.log") as first:
            wait_until(lambda: infomart.has_schema(conn) and sum(
                infomart.stored_offsets(conn, group).values()) >= sum(ends.values()) // 3,
                "a third of the facts loaded", 60, service=first, interval_s=0.01)
            first.kill()
        at_kill = infomart.stored_offsets(conn, group)
        assert sum(at_kill.values()) < sum(ends.values()), "loading finished before the kill"
        last_audit = conn.execute("SELECT max(audit_key) FROM ctl_audit_log").fetchone()[0]
        # Kafka's offsets say "start from 0": a loader that trusted them would reload
        # everything; one that trusts the Info Mart resumes exactly where it stopped.
        set_group_offsets(kafka_bootstrap, group, fact_topic, {p: 0 for p in ends})

        with WorkerProcess(env, tmp_path / "second.log") as second:
            wait_loaded(conn, group, ends, worker=second)
            assert second.stop() == 0
        _assert_exact(conn)
        _assert_offsets_match_topic(conn, topic_prefix, kafka_bootstrap)
        resumed = _first_offsets_after(conn, last_audit)
        for partition, offset in at_kill.items():
            if offset < ends[partition]:
                assert resumed[partition] == offset, (partition, resumed, at_kill)
        for partition in ends.keys() - at_kill.keys():   # never loaded before the kill
            assert resumed[partition] == 0


def _first_offsets_after(conn: psycopg.Connection[Any], audit_key: int) -> dict[int, int]:
    """partition -> the first offset any batch after ``audit_key`` read."""
    first: dict[int, int] = {}
    for (detail,) in conn.execute("SELECT detail FROM ctl_audit_log WHERE audit_key > %s "
                                  "AND source = 'gim-loader' "
                                  "ORDER BY audit_key", (audit_key,)):
        for name, (start, _) in detail["partitions"].items():
            partition = int(name.rsplit(":", 1)[1])
            first.setdefault(partition, start)
    return first


def test_publishing_everything_again_changes_no_row(
        fact_topic: str, topic_prefix: str, fresh_db: str, kafka_bootstrap: str,
        versions: list[Any], tmp_path: Path) -> None:
    group = Topics(topic_prefix).loader_group
    publish_facts(kafka_bootstrap, fact_topic, versions)
    with WorkerProcess(_env(topic_prefix, fresh_db, kafka_bootstrap),
                       tmp_path / "worker.log") as worker, infomart.connect(fresh_db) as conn:
        wait_loaded(conn, group, end_offsets(kafka_bootstrap, fact_topic), worker=worker)
        before = infomart.checksum(conn)
        publish_facts(kafka_bootstrap, fact_topic, versions)   # every record a repeat
        ends = end_offsets(kafka_bootstrap, fact_topic)
        assert sum(ends.values()) == 2 * len(versions)
        wait_loaded(conn, group, ends, worker=worker)
        assert infomart.checksum(conn) == before
        assert worker.metric("gim_loader_rows_total", table="interaction_fact",
                             kind="updated") > 0   # the first pass
        unchanged = sum(worker.metric("gim_loader_rows_total", table=t, kind="unchanged")
                        for t in sc.FACT_TABLES)
        assert unchanged >= sum(before[t][0] for t in sc.FACT_TABLES)
        assert worker.stop() == 0
        _assert_exact(conn)


def test_two_workers_rebalancing_mid_load_write_each_row_once(
        fact_topic: str, topic_prefix: str, fresh_db: str, kafka_bootstrap: str,
        versions: list[Any], tmp_path: Path) -> None:
    publish_facts(kafka_bootstrap, fact_topic, versions)
    ends = end_offsets(kafka_bootstrap, fact_topic)
    group = Topics(topic_prefix).loader_group
    env = _env(topic_prefix, fresh_db, kafka_bootstrap, GIM_LOADER_BATCH_ROWS="40")
    with infomart.connect(fresh_db) as conn, \
            WorkerProcess(env, tmp_path / "a.log") as a:
        wait_until(lambda: infomart.has_schema(conn) and infomart.stored_offsets(conn, group),
                   "the first worker's first batch", 60, service=a, interval_s=0.01)
        with WorkerProcess(env, tmp_path / "b.log") as b:   # joins: the group rebalances
            wait_loaded(conn, group, ends, worker=b)
            b.wait_ready()
            assert a.stop() == 0 and b.stop() == 0
        logs = a.log_text() + b.log_text()
        assert "eadlock" not in logs
        assert re.search(r"assigned [1-5] partitions", b.log_text()), b.log_text()
        _assert_exact(conn)
        _assert_offsets_match_topic(conn, topic_prefix, kafka_bootstrap)


def test_without_a_database_the_worker_waits_not_ready_and_stops_on_sigterm(
        fact_topic: str, topic_prefix: str, kafka_bootstrap: str, tmp_path: Path) -> None:
    url = "postgresql://127.0.0.1:1/gim_infomart_nowhere"   # nothing listens on port 1
    with WorkerProcess(_env(topic_prefix, url, kafka_bootstrap),
                       tmp_path / "worker.log") as worker:
        wait_until(lambda: "retrying in" in worker.log_text(), "a retry logged", 30,
                   service=worker, interval_s=0.1)
        assert worker.get("/healthz")[0] == 200
        assert worker.get("/readyz")[0] == 503
        started = time.monotonic()
        assert worker.stop(timeout=10) == 0
        assert time.monotonic() - started < 5


# ------------------------------------------------------------------ throwaway TLS PostgreSQL

@pytest.fixture(scope="module")
def tls_pg(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PgInstance]:
    """A PostgreSQL of its own (it gets stopped), TLS only, with a generated CA."""
    base = tmp_path_factory.mktemp("tls-pg")
    certs = make_certificates(base / "certs")
    with PgInstance(base / "pg", certs=certs) as pg:
        yield pg


def test_the_writer_connects_with_verify_full(tls_pg: PgInstance) -> None:
    from gim_faust.loaders.writer import Writer, prepare_schema

    url = tls_pg.url("gim_infomart_tls_check")
    assert "sslmode=verify-full" in url
    assert prepare_schema(url)
    writer = Writer(url, "g")
    writer.connect()
    try:
        assert writer.stored_offsets([("t", 0)]) == {}
    finally:
        writer.close()
    with psycopg.connect(url) as conn:
        used_tls = conn.execute("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()"
                                ).fetchone()
        assert used_tls == (True,)
    # The server is TLS-only, and a certificate from another CA is refused.
    with pytest.raises(psycopg.OperationalError):
        psycopg.connect(tls_pg.url("postgres", sslmode="disable"), connect_timeout=5).close()
    other_ca = make_certificates(tls_pg.base / "other-ca").ca
    with pytest.raises(psycopg.OperationalError, match="SSL error"):
        psycopg.connect(tls_pg.url("postgres", sslrootcert=str(other_ca)),
                        connect_timeout=5).close()
    # verify-full checks the name too: the same server reached under a name not in its
    # certificate is refused.
    wrong_name = tls_pg.url("postgres", hostaddr="127.0.0.1").replace(
        "@127.0.0.1:", "@db.invalid:")
    with pytest.raises(psycopg.OperationalError, match="does not match host name"):
        psycopg.connect(wrong_name, connect_timeout=5).close()


def test_postgres_stopped_during_loading_delays_but_loses_nothing(
        tls_pg: PgInstance, fact_topic: str, topic_prefix: str, kafka_bootstrap: str,
        versions: list[Any], tmp_path: Path) -> None:
    url = tls_pg.url(f"gim_infomart_{topic_prefix}")
    group = Topics(topic_prefix).loader_group
    half = len(versions) // 2
    publish_facts(kafka_bootstrap, fact_topic, versions[:half])
    # Small batches, so that the server goes away in the middle of loading.
    env = _env(topic_prefix, url, kafka_bootstrap, GIM_LOADER_BATCH_ROWS="40")
    with WorkerProcess(env, tmp_path / "worker.log") as worker:
        with _wait_db(url, worker) as conn:
            wait_until(lambda: sum(infomart.stored_offsets(conn, group).values()) >= half // 3,
                       "a third of the first half loaded", 60, service=worker, interval_s=0.01)
        tls_pg.stop()
        stopped = time.monotonic()
        publish_facts(kafka_bootstrap, fact_topic, versions[half:])   # more keeps coming
        ends = end_offsets(kafka_bootstrap, fact_topic)
        time.sleep(2)   # a Kafka commit of the last batch before the stop may be in flight
        committed_during = _kafka_committed(kafka_bootstrap, group, fact_topic)
        assert sum(o or 0 for o in committed_during.values()) < sum(ends.values())
        while time.monotonic() - stopped < 30:   # the 30 s
            time.sleep(0.5)
        assert worker.get("/readyz")[0] == 503
        assert worker.get("/healthz")[0] == 200
        assert worker.metric("gim_loader_db_up") == 0
        assert _db_errors(worker) > 0
        # Nothing was committed to Kafka while the database was away.
        assert _kafka_committed(kafka_bootstrap, group, fact_topic) == committed_during
        tls_pg.start()
        restarted = time.monotonic()

        with infomart.connect(url) as conn:
            wait_loaded(conn, group, ends, timeout=120, worker=worker)
            took = time.monotonic() - restarted
            worker.wait_ready()
            _assert_exact(conn)
            assert infomart.stored_offsets(conn, group) == ends
        assert worker.stop() == 0
    print(f"caught up {took:.1f} s after PostgreSQL came back")


def _exists(url: str) -> bool:
    try:
        psycopg.connect(url, connect_timeout=5).close()
        return True
    except psycopg.OperationalError:
        return False


def _wait_db(url: str, worker: WorkerProcess, timeout: float = 60) -> psycopg.Connection[Any]:
    """The worker creates and migrates the Info Mart; connect once that is done."""
    def migrated() -> psycopg.Connection[Any] | None:
        if not _exists(url):
            return None
        conn = infomart.connect(url)
        if infomart.has_schema(conn):
            return conn
        conn.close()
        return None
    return wait_until(migrated, "the worker to create and migrate the Info Mart", timeout,
                      service=worker, interval_s=0.1)


def _db_errors(worker: WorkerProcess) -> float:
    from prometheus_client.parser import text_string_to_metric_families

    _, text = worker.get("/metrics")
    return sum(sample.value for family in text_string_to_metric_families(text)
               for sample in family.samples if sample.name == "gim_loader_db_errors_total")


def _kafka_committed(bootstrap: str, group: str, topic: str) -> dict[int, int | None]:
    import asyncio

    from aiokafka import AIOKafkaConsumer, TopicPartition

    async def read() -> dict[int, int | None]:
        consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=group,
                                    enable_auto_commit=False)
        await consumer.start()
        try:
            return {p: await consumer.committed(TopicPartition(topic, p))
                    for p in range(PARTITIONS)}
        finally:
            await consumer.stop()
    return asyncio.run(read())


def test_an_account_without_grants_stops_the_worker_with_the_hint(
        fact_topic: str, topic_prefix: str, fresh_db: str, kafka_bootstrap: str,
        versions: list[Any], tmp_path: Path) -> None:
    """A missing grant cannot heal by waiting: the worker exits 1 and says what to grant,
    instead of retrying until stopped."""
    from gim_faust.loaders.migrate import migrate
    migrate(fresh_db)
    role = f"gim_reader_{topic_prefix}"
    with psycopg.connect(fresh_db, autocommit=True) as admin:
        admin.execute(f"CREATE ROLE {role} LOGIN PASSWORD 'pw-{topic_prefix}'")
        admin.execute(f"GRANT SELECT ON ALL TABLES IN SCHEMA public TO {role}")
    try:
        parts = urlsplit(fresh_db)
        url = urlunsplit(parts._replace(
            netloc=f"{role}:pw-{topic_prefix}@{parts.netloc.rpartition('@')[2]}"))
        publish_facts(kafka_bootstrap, fact_topic, versions[:50])
        with WorkerProcess(_env(topic_prefix, url, kafka_bootstrap),
                           tmp_path / "worker.log") as worker:
            wait_until(lambda: not worker.running(), "the worker to exit", 60, service=worker)
            assert worker.proc.returncode == 1, worker.tail()
            log = worker.log_text()
            assert "may not do this" in log and "grant it SELECT, INSERT and UPDATE" in log, \
                worker.tail()
            assert "retrying in" not in log
            assert f"pw-{topic_prefix}" not in log  # the password never shows
    finally:
        with psycopg.connect(fresh_db, autocommit=True) as admin:
            admin.execute(f"DROP OWNED BY {role}")
            admin.execute(f"DROP ROLE {role}")
