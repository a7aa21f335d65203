"""Smoke tests of the real local services (make services): Kafka, PostgreSQL, S3."""
from __future__ import annotations

import asyncio
import time
from collections import defaultdict

import pytest

pytestmark = pytest.mark.integration


def split_s3_url(url: str) -> tuple[str, str]:
    """'s3://bucket/some/prefix' -> ('bucket', 'some/prefix')."""
    assert url.startswith("s3://"), url
    bucket, _, prefix = url[len("s3://"):].partition("/")
    return bucket, prefix


# ------------------------------------------------------------------------------------------
# Kafka
# ------------------------------------------------------------------------------------------
async def test_kafka_keyed_produce_consume_round_trip(kafka_bootstrap, make_topics, topic_prefix):
    from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
    from aiokafka.partitioner import murmur2

    (topic,) = await make_topics(f"{topic_prefix}.calls", partitions=3)

    keys = [f"agent-{i}".encode() for i in range(12)]
    sent = []  # (key, value, partition, offset)
    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap, acks="all", enable_idempotence=True)
    await producer.start()
    try:
        for seq in range(5):
            for key in keys:
                value = b"%s:%d" % (key, seq)
                meta = await producer.send_and_wait(topic, value=value, key=key)
                assert meta.topic == topic
                sent.append((key, value, meta.partition, meta.offset))
    finally:
        await producer.stop()

    # Same key -> same partition, and that partition is the Java client's default:
    # murmur2(key) & 0x7fffffff % partitions.
    partition_of = defaultdict(set)
    for key, _, partition, _ in sent:
        partition_of[key].add(partition)
    for key, partitions in partition_of.items():
        assert partitions == {(murmur2(key) & 0x7FFFFFFF) % 3}, key
    assert len({p for ps in partition_of.values() for p in ps}) > 1, "keys should spread over partitions"

    group = f"{topic_prefix}.group"
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=kafka_bootstrap,
        group_id=group,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    await consumer.start()
    received = []
    try:
        deadline = time.monotonic() + 60
        while len(received) < len(sent) and time.monotonic() < deadline:
            batches = await consumer.getmany(timeout_ms=500)
            for _tp, records in batches.items():
                received.extend((r.key, r.value, r.partition, r.offset) for r in records)
        await consumer.commit()
        assignment = consumer.assignment()
        committed = {tp.partition: await consumer.committed(tp) for tp in assignment}
    finally:
        await consumer.stop()

    assert sorted(received) == sorted(sent)
    # Within a partition, records come back in the order they were produced.
    for partition in range(3):
        produced = [v for _, v, p, _ in sent if p == partition]
        consumed = [v for _, v, p, _ in received if p == partition]
        assert consumed == produced
    # Group offsets were committed through the broker's group coordinator.
    assert {tp.partition for tp in assignment} == {0, 1, 2}
    for partition, offset in committed.items():
        assert offset == sum(1 for _, _, p, _ in sent if p == partition)


async def test_make_topics_creates_requested_partitions(kafka_bootstrap, make_topics, topic_prefix):
    from aiokafka.admin import AIOKafkaAdminClient

    names = await make_topics(f"{topic_prefix}.a", f"{topic_prefix}.b", partitions=2,
                              configs={"cleanup.policy": "compact"})
    admin = AIOKafkaAdminClient(bootstrap_servers=kafka_bootstrap)
    await admin.start()
    try:
        described = {t["topic"]: t for t in await admin.describe_topics(names)}
        assert set(names) <= set(await admin.list_topics())
    finally:
        await admin.close()
    assert {n: len(described[n]["partitions"]) for n in names} == {n: 2 for n in names}


async def test_kafka_does_not_auto_create_topics(kafka_bootstrap, topic_prefix):
    from aiokafka import AIOKafkaProducer
    from aiokafka.admin import AIOKafkaAdminClient
    from aiokafka.errors import KafkaTimeoutError, UnknownTopicOrPartitionError

    missing = f"{topic_prefix}.missing"
    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap, request_timeout_ms=2000)
    await producer.start()
    try:
        with pytest.raises((KafkaTimeoutError, UnknownTopicOrPartitionError, asyncio.TimeoutError)):
            await asyncio.wait_for(producer.send_and_wait(missing, b"x"), 10)
    finally:
        await producer.stop()
    admin = AIOKafkaAdminClient(bootstrap_servers=kafka_bootstrap)
    await admin.start()
    try:
        assert missing not in await admin.list_topics()
    finally:
        await admin.close()


# ------------------------------------------------------------------------------------------
# PostgreSQL
# ------------------------------------------------------------------------------------------
def test_postgres_fresh_database(fresh_db, pg_url):
    import psycopg

    dbname = fresh_db.rsplit("/", 1)[1]
    with psycopg.connect(fresh_db) as conn:
        assert conn.execute("SELECT current_database()").fetchone() == (dbname,)
        assert conn.execute(
            "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public'"
        ).fetchone() == (0,), "a fresh database is empty"
        conn.execute(
            "CREATE TABLE interactions (id bigint PRIMARY KEY, agent text NOT NULL,"
            " started timestamptz NOT NULL, talk_seconds int NOT NULL)"
        )
        with conn.cursor() as cur:
            cur.executemany(
                "INSERT INTO interactions VALUES (%s, %s, %s::timestamptz, %s)",
                [(1, "a1", "2026-01-01T10:00:00Z", 30), (2, "a1", "2026-01-01T10:05:00Z", 90),
                 (3, "a2", "2026-01-01T11:00:00Z", 45)],
            )
        conn.commit()

        rows = conn.execute(
            "SELECT agent, count(*), sum(talk_seconds) FROM interactions GROUP BY agent ORDER BY agent"
        ).fetchall()
        assert rows == [("a1", 2, 120), ("a2", 1, 45)]

        # A rolled-back transaction leaves no trace.
        with pytest.raises(psycopg.errors.UniqueViolation):
            with conn.transaction():
                conn.execute("INSERT INTO interactions VALUES (4, 'a3', now(), 1)")
                conn.execute("INSERT INTO interactions VALUES (1, 'dup', now(), 1)")
        assert conn.execute("SELECT count(*) FROM interactions").fetchone() == (3,)
        assert conn.execute("SHOW server_version_num").fetchone()[0] >= "150000"

    with psycopg.connect(pg_url) as admin:
        assert admin.execute("SELECT 1 FROM pg_database WHERE datname = %s", (dbname,)).fetchone() == (1,)


# ------------------------------------------------------------------------------------------
# S3
# ------------------------------------------------------------------------------------------
def test_s3_put_list_get(s3_store, s3_client):
    import boto3

    bucket, prefix = split_s3_url(s3_store)
    objects = {
        f"{prefix}/day=2026-01-01/part-0.json": b'{"calls": 3}\n',
        f"{prefix}/day=2026-01-01/part-1.json": b'{"calls": 5}\n',
        f"{prefix}/day=2026-01-02/part-0.json": b"",
    }
    for key, body in objects.items():
        s3_client.put_object(Bucket=bucket, Key=key, Body=body, ContentType="application/json")

    listed = s3_client.list_objects_v2(Bucket=bucket, Prefix=f"{prefix}/day=2026-01-01/")
    assert sorted(o["Key"] for o in listed["Contents"]) == sorted(k for k in objects if "01-01" in k)
    assert {o["Key"]: o["Size"] for o in listed["Contents"]} == {
        k: len(v) for k, v in objects.items() if "01-01" in k
    }
    delimited = s3_client.list_objects_v2(Bucket=bucket, Prefix=f"{prefix}/", Delimiter="/")
    assert sorted(p["Prefix"] for p in delimited["CommonPrefixes"]) == [
        f"{prefix}/day=2026-01-01/", f"{prefix}/day=2026-01-02/",
    ]

    for key, body in objects.items():
        got = s3_client.get_object(Bucket=bucket, Key=key)
        assert got["Body"].read() == body
        assert got["ContentType"] == "application/json"

    # Code under test that builds its own client from the environment reaches the same store.
    env_client = boto3.client("s3")
    assert env_client.get_object(Bucket=bucket, Key=next(iter(objects)))["Body"].read() == b'{"calls": 3}\n'


def test_s3_multipart_upload(s3_store, s3_client):
    import io

    from boto3.s3.transfer import TransferConfig

    bucket, prefix = split_s3_url(s3_store)
    payload = bytes(range(256)) * (6 * 1024 * 1024 // 256 * 2)  # 12 MiB -> 3 parts of 5 MiB
    config = TransferConfig(multipart_threshold=5 * 1024 * 1024, multipart_chunksize=5 * 1024 * 1024)
    s3_client.upload_fileobj(io.BytesIO(payload), bucket, f"{prefix}/big.bin", Config=config)
    head = s3_client.head_object(Bucket=bucket, Key=f"{prefix}/big.bin")
    assert head["ContentLength"] == len(payload)
    out = io.BytesIO()
    s3_client.download_fileobj(bucket, f"{prefix}/big.bin", out)
    assert out.getvalue() == payload


def test_s3_rejects_bad_signature(s3_store, s3_settings):
    """The local store checks SigV4 signatures like real S3 (s3proxy does; moto would not)."""
    import boto3
    import botocore.exceptions

    bucket, prefix = split_s3_url(s3_store)
    bad = boto3.client(
        "s3",
        endpoint_url=s3_settings["AWS_ENDPOINT_URL"],
        aws_access_key_id=s3_settings["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key="not-the-secret",
        region_name=s3_settings["AWS_DEFAULT_REGION"],
    )
    with pytest.raises(botocore.exceptions.ClientError) as excinfo:
        bad.put_object(Bucket=bucket, Key=f"{prefix}/x", Body=b"x")
    assert excinfo.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
