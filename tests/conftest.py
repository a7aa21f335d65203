"""Shared pytest fixtures for the real local services (Kafka, PostgreSQL, S3).

Services come from ``make services`` (scripts/services.sh), which writes ``.local/services.env``.
That file is loaded here for any variable not already set, so plain ``pytest`` works without
sourcing it. Fixtures never skip: if a service is unreachable they fail and say how to start it.

Fixtures
    kafka_bootstrap (session)  "host:port" of a reachable broker
    make_topics                 async ``await make_topics("a", "b", partitions=3)`` -> names
    topic_prefix                fresh "t<8 hex>" namespace for topics / tenants
    pg_url (session)            admin URL (superuser) of the test PostgreSQL
    db_factory                  call it for more fresh databases, dropped afterwards
    fresh_db                    URL of a new, empty database, dropped afterwards
    s3_client (session)         boto3 S3 client for the test endpoint
    s3_store                    "s3://<bucket>/<fresh prefix>", with AWS_* env set for boto3
"""
from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import time
import urllib.parse
import uuid
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest

REPO = Path(__file__).resolve().parent.parent
SERVICES_ENV = REPO / ".local" / "services.env"
START_HINT = "start the local services with `make services` (or `bash scripts/services.sh up`)"

DEFAULTS = {
    "GIM_KAFKA_BOOTSTRAP": "127.0.0.1:9092",
    "GIM_TEST_PG_URL": "postgresql://127.0.0.1:5432/postgres",
    "AWS_ENDPOINT_URL": "http://127.0.0.1:9000",
    "AWS_ACCESS_KEY_ID": "gim-local",
    "AWS_SECRET_ACCESS_KEY": "gim-local-secret",
    "AWS_DEFAULT_REGION": "us-east-1",
    "GIM_TEST_S3_BUCKET": "gim-test",
}


def _load_services_env() -> None:
    """setdefault() every KEY=VALUE of .local/services.env: explicit environment wins."""
    if not SERVICES_ENV.is_file():
        return
    for line in SERVICES_ENV.read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, _, value = line.partition("=")
        os.environ.setdefault(key.strip(), value.strip().strip("'\""))


_load_services_env()


def _setting(name: str) -> str:
    return os.environ.get(name) or DEFAULTS[name]


def unique_name(prefix: str = "t") -> str:
    """A short unique identifier: letter + 8 hex digits (valid for topics, databases, keys)."""
    return f"{prefix}{uuid.uuid4().hex[:8]}"


def _docker_engine_available() -> bool:
    if not shutil.which("docker"):
        return False
    try:
        return subprocess.run(["docker", "info"], capture_output=True, timeout=15).returncode == 0
    except (OSError, subprocess.SubprocessError):
        return False


# ------------------------------------------------------------------------------------------
# Kafka
# ------------------------------------------------------------------------------------------
async def _kafka_check(bootstrap: str, timeout: float = 10.0) -> None:
    from aiokafka.admin import AIOKafkaAdminClient

    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=int(timeout * 1000))
    try:
        await asyncio.wait_for(admin.start(), timeout)
        await asyncio.wait_for(admin.list_topics(), timeout)
    finally:
        await admin.close()


def _kafka_reachable(bootstrap: str) -> Exception | None:
    try:
        asyncio.run(_kafka_check(bootstrap))
    except Exception as exc:  # noqa: BLE001 - reported to the user below
        return exc
    return None


@pytest.fixture(scope="session")
def kafka_bootstrap() -> Iterator[str]:
    """Bootstrap servers of a reachable Kafka broker.

    GIM_KAFKA_BOOTSTRAP (or 127.0.0.1:9092). If that is unreachable, not set explicitly, and a
    Docker engine answers, a testcontainers Kafka is started instead. Otherwise: fail.
    """
    explicit = "GIM_KAFKA_BOOTSTRAP" in os.environ
    bootstrap = _setting("GIM_KAFKA_BOOTSTRAP")
    error = _kafka_reachable(bootstrap)
    if error is None:
        yield bootstrap
        return
    if not explicit and _docker_engine_available():
        try:
            from testcontainers.community.kafka import KafkaContainer
        except ImportError:  # testcontainers < 4.14
            from testcontainers.kafka import KafkaContainer

        container = KafkaContainer().with_kraft().with_env("KAFKA_AUTO_CREATE_TOPICS_ENABLE", "false")
        container.start()
        try:
            yield container.get_bootstrap_server()
        finally:
            container.stop()
        return
    pytest.fail(
        f"Kafka is not reachable at {bootstrap} ({type(error).__name__}: {error}); {START_HINT}",
        pytrace=False,
    )


@pytest.fixture
def topic_prefix() -> str:
    """A fresh namespace for topic names (and tenant-like prefixes), e.g. 't1a2b3c4d'."""
    return unique_name("t")


async def _wait_topics_ready(admin: Any, names: list[str], partitions: int, timeout: float) -> None:
    """Wait until every partition of every topic has a leader (metadata has propagated)."""
    deadline = time.monotonic() + timeout
    while True:
        described = await admin.describe_topics(names)
        ready = all(
            t.get("error_code", 0) == 0
            and len(t.get("partitions", [])) == partitions
            and all(p.get("leader", -1) >= 0 for p in t["partitions"])
            for t in described
        )
        if ready:
            return
        if time.monotonic() > deadline:
            raise TimeoutError(f"topics {names} not ready after {timeout}s: {described}")
        await asyncio.sleep(0.1)


@pytest.fixture
async def make_topics(kafka_bootstrap: str) -> Any:
    """Async factory creating topics through aiokafka's admin client; deletes them afterwards.

        names = await make_topics("t1a2b.events", partitions=3, configs={"cleanup.policy": "compact"})
    """
    from aiokafka.admin import AIOKafkaAdminClient, NewTopic

    admin = AIOKafkaAdminClient(bootstrap_servers=kafka_bootstrap)
    await admin.start()
    created: list[str] = []

    async def factory(
        *names: str,
        partitions: int = 1,
        replication_factor: int = 1,
        configs: dict[str, str] | None = None,
        timeout: float = 30.0,
    ) -> list[str]:
        topics = [
            NewTopic(name, num_partitions=partitions, replication_factor=replication_factor,
                     topic_configs=dict(configs or {}))
            for name in names
        ]
        response = await admin.create_topics(topics, timeout_ms=int(timeout * 1000))
        errors = [
            (topic_error[0], topic_error[1], topic_error[-1])
            for topic_error in getattr(response, "topic_errors", [])
            if topic_error[1] != 0
        ]
        if errors:
            raise RuntimeError(f"CreateTopics failed: {errors}")
        created.extend(names)
        await _wait_topics_ready(admin, list(names), partitions, timeout)
        return list(names)

    try:
        yield factory
    finally:
        try:
            if created:
                await asyncio.wait_for(admin.delete_topics(created), 30)
        except Exception:  # noqa: BLE001 - best effort cleanup; names are unique anyway
            pass
        await admin.close()


# ------------------------------------------------------------------------------------------
# PostgreSQL
# ------------------------------------------------------------------------------------------
def _with_dbname(url: str, dbname: str) -> str:
    parts = urllib.parse.urlsplit(url)
    return urllib.parse.urlunsplit(parts._replace(path="/" + dbname))


@pytest.fixture(scope="session")
def pg_url() -> str:
    """Admin (superuser) URL of the test PostgreSQL: GIM_TEST_PG_URL."""
    import psycopg

    url = _setting("GIM_TEST_PG_URL")
    try:
        with psycopg.connect(url, connect_timeout=5, autocommit=True) as conn:
            conn.execute("SELECT 1")
    except psycopg.Error as exc:
        pytest.fail(
            f"PostgreSQL is not reachable at {url} ({type(exc).__name__}: {exc}); {START_HINT}",
            pytrace=False,
        )
    return url


@pytest.fixture
def db_factory(pg_url: str) -> Iterator[Callable[[], str]]:
    """Call it for the URL of a freshly created, empty database; all are dropped (WITH
    (FORCE)) after the test."""
    import psycopg
    from psycopg import sql

    names: list[str] = []

    def create() -> str:
        name = unique_name("test_")
        with psycopg.connect(pg_url, autocommit=True) as conn:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        names.append(name)
        return _with_dbname(pg_url, name)

    yield create
    with psycopg.connect(pg_url, autocommit=True) as conn:
        for name in names:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
                sql.Identifier(name)))


@pytest.fixture
def fresh_db(db_factory: Callable[[], str]) -> str:
    """URL of a freshly created, empty database; dropped after the test."""
    return db_factory()


# ------------------------------------------------------------------------------------------
# S3
# ------------------------------------------------------------------------------------------
S3_ENV_KEYS = ("AWS_ENDPOINT_URL", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_DEFAULT_REGION")


@pytest.fixture(scope="session")
def s3_settings() -> dict[str, str]:
    """Endpoint, credentials, region and bucket of the test S3 store."""
    settings = {key: _setting(key) for key in S3_ENV_KEYS}
    settings["GIM_TEST_S3_BUCKET"] = _setting("GIM_TEST_S3_BUCKET")
    return settings


@pytest.fixture(scope="session")
def s3_client(s3_settings: dict[str, str]) -> Any:
    """A boto3 S3 client for the test endpoint; the test bucket exists."""
    return connect_s3(s3_settings)


def connect_s3(s3_settings: dict[str, str]) -> Any:
    """A boto3 S3 client for ``s3_settings``' endpoint, its bucket created if missing. (A
    folder that overrides ``s3_settings``, as tests/faults does, overrides ``s3_client`` with
    it too: a session fixture is made once, for whichever test asks first.)"""
    import boto3
    import botocore.config
    import botocore.exceptions

    client = boto3.client(
        "s3",
        endpoint_url=s3_settings["AWS_ENDPOINT_URL"],
        aws_access_key_id=s3_settings["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=s3_settings["AWS_SECRET_ACCESS_KEY"],
        region_name=s3_settings["AWS_DEFAULT_REGION"],
        config=botocore.config.Config(
            s3={"addressing_style": "path"},
            connect_timeout=5,
            retries={"max_attempts": 2},
        ),
    )
    bucket = s3_settings["GIM_TEST_S3_BUCKET"]
    try:
        try:
            client.head_bucket(Bucket=bucket)
        except botocore.exceptions.ClientError as exc:
            if exc.response.get("Error", {}).get("Code") not in ("404", "NoSuchBucket", "NotFound"):
                raise
            client.create_bucket(Bucket=bucket)
    except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as exc:
        pytest.fail(
            f"S3 store is not usable at {s3_settings['AWS_ENDPOINT_URL']} "
            f"({type(exc).__name__}: {exc}); {START_HINT}",
            pytrace=False,
        )
    return client


@pytest.fixture
def s3_store(s3_client: Any, s3_settings: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """``s3://<bucket>/<fresh prefix>`` with AWS_* set in os.environ so code under test using
    plain ``boto3.client("s3")`` reaches the same store. Objects under the prefix are deleted
    afterwards."""
    for key in S3_ENV_KEYS:
        monkeypatch.setenv(key, s3_settings[key])
    bucket = s3_settings["GIM_TEST_S3_BUCKET"]
    prefix = unique_name("t")
    yield f"s3://{bucket}/{prefix}"
    paginator = s3_client.get_paginator("list_objects_v2")
    for page in paginator.paginate(Bucket=bucket, Prefix=prefix + "/"):
        for obj in page.get("Contents", []):
            s3_client.delete_object(Bucket=bucket, Key=obj["Key"])


def split_s3_url(url: str) -> tuple[str, str]:
    """'s3://bucket/some/prefix' -> ('bucket', 'some/prefix')."""
    parts = urllib.parse.urlsplit(url)
    assert parts.scheme == "s3", url
    return parts.netloc, parts.path.lstrip("/")
