"""The file backend of gim_faust.objectstore (the S3 one: tests/integration/test_objectstore.py)."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from gim_faust.errors import ConfigError, GimError, RetriableError
from gim_faust.objectstore import FileStore, NotFound, S3Store, open_store


@pytest.fixture
def store(tmp_path: Path) -> FileStore:
    return FileStore(tmp_path / "objects")


def test_put_get_round_trip_and_overwrite(store: FileStore) -> None:
    store.put("acme/gca/snapshots/a.json.gz", b"one")
    assert store.get("acme/gca/snapshots/a.json.gz") == b"one"
    store.put("acme/gca/snapshots/a.json.gz", b"two")
    assert store.get("acme/gca/snapshots/a.json.gz") == b"two"
    assert store.exists("acme/gca/snapshots/a.json.gz")
    assert not store.exists("acme/gca/snapshots/b.json.gz")


def test_get_missing_raises_not_found(store: FileStore) -> None:
    with pytest.raises(NotFound) as caught:
        store.get("acme/nothing")
    assert isinstance(caught.value, GimError)
    assert caught.value.key == "acme/nothing"
    store.put("acme/dir/x", b"x")
    with pytest.raises(NotFound):
        store.get("acme/dir")  # a "directory" is not an object


def test_list_is_sorted_and_filters_by_string_prefix(store: FileStore) -> None:
    for key in ("t/gca/snapshots/2.json.gz", "t/gca/snapshots/1.json.gz",
                "t/gca/snapshots/LATEST", "t/gsp/x", "u/gca/y", "t/gca/snapshotsX"):
        store.put(key, b"")
    assert store.list("t/gca/snapshots/") == ["t/gca/snapshots/1.json.gz",
                                              "t/gca/snapshots/2.json.gz",
                                              "t/gca/snapshots/LATEST"]
    assert store.list("t/gca/snap") == ["t/gca/snapshots/1.json.gz",
                                        "t/gca/snapshots/2.json.gz",
                                        "t/gca/snapshots/LATEST", "t/gca/snapshotsX"]
    assert store.list("t/gca/snapshots/1") == ["t/gca/snapshots/1.json.gz"]
    assert store.list() == sorted(store.list("t/") + store.list("u/"))
    assert store.list("nothing/here/") == []


def test_delete_is_idempotent(store: FileStore) -> None:
    store.put("a/b", b"x")
    store.delete("a/b")
    store.delete("a/b")
    assert not store.exists("a/b")
    assert store.list("a/") == []


@pytest.mark.parametrize("key", ["", "/abs", "a//b", "a/../b", "../escape", "a/./b", "a/"])
def test_bad_keys_are_refused(store: FileStore, key: str) -> None:
    with pytest.raises(ValueError):
        store.put(key, b"x")
    with pytest.raises(ValueError):
        store.list(key + "/" if key else "../")


def test_failed_write_leaves_old_object_and_no_temporary_file(
        store: FileStore, monkeypatch: pytest.MonkeyPatch) -> None:
    store.put("t/obj", b"old")

    def broken_replace(src: str, dst: str) -> None:
        raise OSError("disk on fire")

    monkeypatch.setattr(os, "replace", broken_replace)
    with pytest.raises(RetriableError, match="disk on fire"):
        store.put("t/obj", b"new")
    monkeypatch.undo()
    assert store.get("t/obj") == b"old"
    assert os.listdir(store.root / "t") == ["obj"]


def test_list_never_shows_temporary_files(store: FileStore) -> None:
    store.put("t/obj", b"x")
    (store.root / "t" / f"{FileStore.TEMP_PREFIX}obj.abc").write_bytes(b"half")
    assert store.list("t/") == ["t/obj"]


def test_open_store_file_urls(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    absolute = open_store(f"file://{tmp_path}/abs")
    assert isinstance(absolute, FileStore) and absolute.root == tmp_path / "abs"
    monkeypatch.chdir(tmp_path)
    relative = open_store("file://./var/objects")
    assert isinstance(relative, FileStore)
    relative.put("k", b"v")
    assert (tmp_path / "var" / "objects" / "k").read_bytes() == b"v"
    assert relative.url == "file://./var/objects"


def test_open_store_s3_and_bad_urls(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    s3 = open_store("s3://bucket/some/prefix")
    assert isinstance(s3, S3Store)
    assert (s3.bucket, s3.prefix, s3.url) == ("bucket", "some/prefix", "s3://bucket/some/prefix")
    assert isinstance(open_store("s3://bucket"), S3Store)
    for bad in ("s3:///nobucket", "http://x/y", "file://"):
        with pytest.raises(ConfigError):
            open_store(bad)


def test_put_file_stores_a_local_file_whole(store: FileStore, tmp_path: Path) -> None:
    source = tmp_path / "export.csv.gz"
    source.write_bytes(b"x" * (3 * 1024 * 1024 + 5))   # more than one copy chunk
    store.put_file("acme/gim/exports/1_a/t.csv.gz", source)
    assert store.get("acme/gim/exports/1_a/t.csv.gz") == source.read_bytes()
    assert store.list("acme/gim/exports/1_a/") == ["acme/gim/exports/1_a/t.csv.gz"]
    with pytest.raises(RetriableError):
        store.put_file("acme/gim/exports/1_a/u.csv.gz", tmp_path / "missing")
    assert not store.exists("acme/gim/exports/1_a/u.csv.gz")


def test_get_file_copies_an_object_to_a_local_file(store: FileStore, tmp_path: Path) -> None:
    store.put("acme/gsp/snapshots/x/CURRENT", b"y" * (2 * 1024 * 1024 + 3))
    store.get_file("acme/gsp/snapshots/x/CURRENT", tmp_path / "copy")
    assert (tmp_path / "copy").read_bytes() == b"y" * (2 * 1024 * 1024 + 3)
    with pytest.raises(NotFound):
        store.get_file("acme/gsp/snapshots/x/missing", tmp_path / "other")
