"""The GSP's batches: one read and one write per key, in the partition of its record."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest
from faust.streams import current_event
from gim_faust.tables import state_codec

from gim_faust.gsp.batch import Batch
from gim_faust.gsp.changelog import Changelog


@dataclass
class Message:
    topic: str
    partition: int
    offset: int


class Event:
    def __init__(self, partition: int, offset: int) -> None:
        self.message = Message("raw", partition, offset)


class Table(dict):
    """Records every write with the partition of the event it was made for."""

    def __init__(self) -> None:
        super().__init__()
        self.writes: list[tuple[bytes, int]] = []
        self.reads = 0

    class changelog_topic:  # noqa: N801 - Faust's attribute
        @staticmethod
        def get_topic_name() -> str:
            return "changelog"

    @property
    def data(self) -> Table:
        """The store, which the batch reads (``tables/specs.stored``)."""
        return self

    def get(self, key: Any, default: Any = None) -> Any:
        self.reads += 1
        return super().get(key, default)

    def __setitem__(self, key: bytes, value: bytes) -> None:
        self.writes.append((key, current_event().message.partition))
        super().__setitem__(key, value)


def test_a_key_is_read_once_and_written_once_in_its_own_partition() -> None:
    table, changelog = Table(), Changelog(None)  # type: ignore[arg-type]
    batch = Batch(table, lambda state: state, changelog)
    for offset in range(5):
        touched = batch.get(b"k1", Event(1, offset))
        touched.update({"n": offset})
    batch.get(b"k2", Event(2, 9)).update({"n": 9})
    batch.get(b"k3", Event(0, 10))  # read, not changed: not written
    batch.write(lambda entry, partition: True)

    assert table.reads == 3
    assert sorted(table.writes) == [(b"k1", 1), (b"k2", 2)]
    assert state_codec.unpack(table[b"k1"]) == ({"n": 4}, [])
    assert batch.keys == {}
    # each write goes to the changelog too, in the partition it was written to
    assert {(tp, key, value) for tp, records in changelog.batches.records.items()
            for key, value in records} == {(("changelog", 1), b"k1", table[b"k1"]),
                                           (("changelog", 2), b"k2", table[b"k2"])}


def test_the_write_keeps_only_the_stored_outbox_entries_still_wanted() -> None:
    table = Table()
    dict.__setitem__(table, b"k", state_codec.pack({"n": 0}, [["raw", 1, []], ["raw", 2, []]]))
    batch = Batch(table, lambda state: state, Changelog(None))  # type: ignore[arg-type]
    touched = batch.get(b"k", Event(0, 3))
    touched.update({"n": 3})
    batch.write(lambda entry, partition: entry[1] != 2)
    assert [entry[1] for entry in state_codec.unpack(table[b"k"])[1]] == [1]


def test_a_deleted_key_is_removed_unless_it_was_never_stored() -> None:
    table = Table()
    dict.__setitem__(table, b"old", state_codec.pack({"n": 0}, []))
    batch = Batch(table, lambda state: state, Changelog(None))  # type: ignore[arg-type]
    batch.get(b"old", Event(0, 1)).delete()
    batch.get(b"new", Event(0, 2)).delete()
    batch.write(lambda entry, partition: True)
    assert b"old" not in table and b"new" not in table


@pytest.fixture(autouse=True)
def _no_leftover_event() -> None:
    assert current_event() is None


def test_a_stored_key_is_read_once_across_batches_until_forgotten() -> None:
    table = Table()
    built: list[Any] = []
    batch = Batch(table, lambda state: built.append(state) or state,  # type: ignore[arg-type]
                  Changelog(None))  # type: ignore[arg-type]
    dict.__setitem__(table, b"k", state_codec.pack({"n": 0}, []))
    batch.get(b"k", Event(0, 1)).update({"n": 1})
    batch.write(lambda entry, partition: True)
    touched = batch.get(b"k", Event(0, 2))  # the next batch: from the cache
    assert (touched.state, table.reads, len(built)) == ({"n": 1}, 1, 1)
    touched.delete()
    batch.write(lambda entry, partition: True)
    assert b"k" not in table and batch.cache == {}  # a deleted key is not cached
    batch.get(b"k", Event(0, 3)).update({"n": 3})
    batch.write(lambda entry, partition: True)
    batch.forget()
    dict.__setitem__(table, b"k", state_codec.pack({"n": 7}, []))  # written by another owner
    assert batch.get(b"k", Event(0, 4)).state == {"n": 7}


def test_the_cache_keeps_the_most_recently_used_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("gim_faust.gsp.batch.CACHED_KEYS", 2)
    batch = Batch(Table(), lambda state: state, Changelog(None))  # type: ignore[arg-type]
    for key in (b"a", b"b", b"c"):
        batch.get(key, Event(0, 1)).update({})
        batch.write(lambda entry, partition: True)
    batch.get(b"b", Event(0, 2))
    batch.write(lambda entry, partition: True)
    assert list(batch.cache) == [b"c", b"b"]
