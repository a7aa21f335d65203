"""Snapshot layout and manifest rules, on a local-folder object store."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from gim_faust.gsp.snapshots import (
    FileEntry,
    Manifest,
    PartitionState,
    SnapshotArea,
    SnapshotRefused,
    new_snapshot_id,
)
from gim_faust.objectstore import FileStore

START = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)


def manifest(snapshot_id: str) -> Manifest:
    store = PartitionState("interactions-voice", 2, "gim-gsp-acme-interactions-voice-changelog",
                           41, (FileEntry("000009.sst", 1200, "ab" * 32),
                                FileEntry("CURRENT", 16, "cd" * 32)))
    return Manifest("acme", "gim-gsp-acme", "gsp-0", snapshot_id, START.isoformat(), (store,),
                    {"acme.voice.interactions/2": 77})


def write(area: SnapshotArea, snapshot_id: str, complete: bool = True) -> None:
    m = manifest(snapshot_id)
    for entry in m.partitions[0].files:
        area.store.put(area.file_key(snapshot_id, m.partitions[0], entry.name), b"x")
    if complete:
        area.store.put(area.manifest_key(snapshot_id), m.to_json())


@pytest.fixture
def area(tmp_path: Path) -> SnapshotArea:
    return SnapshotArea(FileStore(tmp_path), "acme", "gim-gsp-acme", "gsp-0")


def test_manifest_round_trips_and_sums_its_files() -> None:
    m = manifest("20261129T120000000000Z")
    assert Manifest.from_json(m.to_json()) == m
    assert m.size == 1216


@pytest.mark.parametrize("raw", [b"{", b"[]", b'{"format": 1}', b'{"format": 2}'])
def test_an_unreadable_manifest_is_refused(raw: bytes) -> None:
    with pytest.raises(SnapshotRefused):
        Manifest.from_json(raw)


def test_snapshot_ids_sort_by_time() -> None:
    ids = [new_snapshot_id(START + timedelta(milliseconds=ms)) for ms in (999, 1000, 0)]
    assert sorted(ids) == [ids[2], ids[0], ids[1]]


def test_only_snapshots_with_a_manifest_are_complete_newest_first(area: SnapshotArea) -> None:
    for sid in ("20261129T100000000000Z", "20261129T110000000000Z"):
        write(area, sid)
    write(area, "20261129T120000000000Z", complete=False)   # an upload cut short
    assert area.complete() == ["20261129T110000000000Z", "20261129T100000000000Z"]
    assert area.manifest("20261129T100000000000Z") == manifest("20261129T100000000000Z")


def test_prune_keeps_the_newest_and_drops_incomplete_ones(area: SnapshotArea) -> None:
    ids = [f"20261129T1{h}0000000000Z" for h in range(5)]
    for sid in ids:
        write(area, sid)
    write(area, "20261129T150000000000Z", complete=False)
    assert area.prune(keep=3) == [ids[0], ids[1], "20261129T150000000000Z"]
    assert area.complete() == ids[:1:-1]
    assert all(key.split("/")[-2 if key.endswith("MANIFEST.json") else -3] in ids[2:]
               for key in area.store.list(area.prefix))


def test_each_worker_has_its_own_area(tmp_path: Path) -> None:
    area = SnapshotArea(FileStore(tmp_path), "acme", "gim-gsp-acme", "acme-gsp-1")
    assert area.prefix == "acme/gsp/snapshots/gim-gsp-acme/acme-gsp-1/"
