"""gim_faust.objectstore's S3 backend against the real local S3-compatible store."""
from __future__ import annotations

import pytest

from gim_faust.errors import FatalError, RetriableError
from gim_faust.objectstore import NotFound, S3Store, open_store

pytestmark = pytest.mark.integration


def test_s3_put_get_exists_list_delete(s3_store: str, s3_client) -> None:
    store = open_store(s3_store)
    assert isinstance(store, S3Store)
    store.put("acme/gca/snapshots/2.json.gz", b"two")
    store.put("acme/gca/snapshots/1.json.gz", b"one")
    store.put("acme/gca/snapshots/LATEST", b'{"key": "x"}')
    store.put("acme/gsp/other", b"")
    assert store.get("acme/gca/snapshots/1.json.gz") == b"one"
    assert store.exists("acme/gca/snapshots/LATEST")
    assert not store.exists("acme/gca/snapshots/3.json.gz")
    assert store.list("acme/gca/snapshots/") == ["acme/gca/snapshots/1.json.gz",
                                                 "acme/gca/snapshots/2.json.gz",
                                                 "acme/gca/snapshots/LATEST"]
    assert store.list("acme/gca/snapshots/1") == ["acme/gca/snapshots/1.json.gz"]
    assert len(store.list()) == 4
    # Keys are relative to the store's prefix, which holds them in the bucket.
    bucket, prefix = s3_store[len("s3://"):].split("/", 1)
    body = s3_client.get_object(Bucket=bucket, Key=f"{prefix}/acme/gca/snapshots/2.json.gz")
    assert body["Body"].read() == b"two"
    store.put("acme/gca/snapshots/2.json.gz", b"TWO")
    assert store.get("acme/gca/snapshots/2.json.gz") == b"TWO"
    store.delete("acme/gca/snapshots/2.json.gz")
    store.delete("acme/gca/snapshots/2.json.gz")  # deleting twice is fine
    with pytest.raises(NotFound):
        store.get("acme/gca/snapshots/2.json.gz")


def test_s3_large_object_round_trip(s3_store: str) -> None:
    store = open_store(s3_store)
    payload = bytes(range(256)) * 40_000  # 10 MB: one PUT, no multipart
    store.put("big.bin", payload)
    assert store.get("big.bin") == payload


def test_s3_missing_bucket_is_fatal(s3_store: str) -> None:
    store = open_store("s3://gim-no-such-bucket-7f3a/prefix")
    with pytest.raises(FatalError, match="NoSuchBucket"):
        store.put("k", b"v")


def test_s3_bad_credentials_are_fatal(s3_store: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "wrong-secret")
    store = open_store(s3_store)
    with pytest.raises(FatalError, match="credentials"):
        store.get("k")


def test_s3_unreachable_endpoint_is_retriable(s3_store: str,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:1")
    store = open_store(s3_store)
    with pytest.raises(RetriableError):
        store.list("x/")


def test_s3_put_file_streams_a_local_file(s3_store: str, tmp_path) -> None:
    store = open_store(s3_store)
    source = tmp_path / "export.csv.gz"
    source.write_bytes(bytes(range(256)) * 20_000)
    store.put_file("acme/gim/exports/1_a/t.csv.gz", source)
    assert store.get("acme/gim/exports/1_a/t.csv.gz") == source.read_bytes()


def test_s3_get_file_streams_to_a_local_file(s3_store: str, tmp_path) -> None:
    store = open_store(s3_store)
    store.put("acme/gsp/snapshots/x/000001.sst", bytes(range(256)) * 10_000)
    store.get_file("acme/gsp/snapshots/x/000001.sst", tmp_path / "copy")
    assert (tmp_path / "copy").read_bytes() == bytes(range(256)) * 10_000
    with pytest.raises(NotFound):
        store.get_file("acme/gsp/snapshots/x/missing", tmp_path / "other")
