"""gim_faust.gca.config_snapshot on the file object store."""
from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

import orjson
import pytest

from gim_faust.errors import FatalError
from gim_faust.gca.config_snapshot import Snapshot, SnapshotStore, decode, encode, snapshot_name
from gim_faust.objectstore import FileStore

T1 = datetime(2026, 11, 2, 9, 0, 0, 5000, tzinfo=timezone.utc)
T2 = datetime(2026, 11, 2, 9, 0, 30, tzinfo=timezone.utc)
OBJECTS = {("person", 1001): {"user_name": "maya", "skills": {"301": 5}},
           ("dn", 103): {"number": "8100", "name": None}}


@pytest.fixture
def snapshots(tmp_path: Path) -> SnapshotStore:
    return SnapshotStore(FileStore(tmp_path), "acme")


def test_encode_decode_round_trip_and_is_deterministic() -> None:
    snapshot = Snapshot("acme", 1, T1, OBJECTS)
    assert decode(encode(snapshot)) == snapshot
    assert encode(snapshot) == encode(Snapshot("acme", 1, T1, dict(reversed(OBJECTS.items()))))


def test_decode_refuses_what_is_not_a_snapshot() -> None:
    import gzip
    for data in (b"plain", gzip.compress(b"not json"), gzip.compress(b'{"format": "x"}')):
        with pytest.raises(ValueError):
            decode(data)


def test_names_sort_by_time() -> None:
    assert snapshot_name(T1) == "20261102T090000.005Z.json.gz"
    assert snapshot_name(T1) < snapshot_name(T2)


def test_nothing_saved_loads_none(snapshots: SnapshotStore) -> None:
    assert snapshots.load_latest() is None


def test_save_writes_snapshot_then_pointer(snapshots: SnapshotStore) -> None:
    written: list[str] = []
    store = snapshots.store
    put = store.put
    store.put = lambda key, data: (written.append(key), put(key, data))  # type: ignore[method-assign]
    key = snapshots.save(Snapshot("acme", 1, T1, OBJECTS))
    assert written == [key, "acme/gca/snapshots/LATEST"]
    assert key == "acme/gca/snapshots/20261102T090000.005Z.json.gz"
    assert orjson.loads(store.get("acme/gca/snapshots/LATEST"))["key"] == key
    assert snapshots.load_latest() == Snapshot("acme", 1, T1, OBJECTS)


def test_latest_follows_the_pointer(snapshots: SnapshotStore) -> None:
    snapshots.save(Snapshot("acme", 1, T1, OBJECTS))
    snapshots.save(Snapshot("acme", 1, T2, {}))
    latest = snapshots.load_latest()
    assert latest is not None and latest.observed == T2


def test_missing_or_broken_pointer_falls_back_to_newest_listed(snapshots: SnapshotStore) -> None:
    snapshots.save(Snapshot("acme", 1, T1, OBJECTS))
    second = snapshots.save(Snapshot("acme", 1, T2, {}))
    snapshots.store.delete(snapshots.pointer)
    assert snapshots.load_latest().observed == T2  # type: ignore[union-attr]
    snapshots.store.put(snapshots.pointer, b"garbage")
    assert snapshots.load_latest().observed == T2  # type: ignore[union-attr]
    # The pointer names a snapshot that is gone, or unreadable: the newest readable one wins.
    snapshots.store.put(snapshots.pointer, orjson.dumps({"key": second}))
    snapshots.store.delete(second)
    assert snapshots.load_latest().observed == T1  # type: ignore[union-attr]
    snapshots.store.put(second, b"half a snapshot")
    assert snapshots.load_latest().observed == T1  # type: ignore[union-attr]


def test_only_unreadable_snapshots_is_fatal(snapshots: SnapshotStore) -> None:
    snapshots.store.put("acme/gca/snapshots/20261102T090000.000Z.json.gz", b"junk")
    with pytest.raises(FatalError, match="can be read"):
        snapshots.load_latest()


def test_a_snapshot_of_another_tenant_is_not_used(tmp_path: Path) -> None:
    store = FileStore(tmp_path)
    key = SnapshotStore(store, "other").save(Snapshot("other", 2, T1, OBJECTS))
    store.put("acme/gca/snapshots/" + key.rsplit("/", 1)[1], store.get(key))
    with pytest.raises(FatalError):
        SnapshotStore(store, "acme").load_latest()
