"""The typed table over the party rows: a write goes to the store in the current event's
partition, and its changelog record, or a tombstone, to the batch's changelog."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest
from gim_faust.tables.codec_table import CodecTable

from gim_faust.gsp.batch import Held, acting_for


class Table:
    """A Faust table as the typed table uses it: its store, a dict here."""

    def __init__(self) -> None:
        self.data: dict[bytes, bytes] = {}

    def keys(self) -> Any:
        return self.data.keys()

    def __len__(self) -> int:
        return len(self.data)


def test_a_write_and_a_delete_reach_the_store_and_the_changelog_in_the_events_partition() -> None:
    table, logged = Table(), []
    rows = CodecTable(table, str.encode, bytes.decode,  # type: ignore[arg-type]
                      lambda *record: logged.append(record))
    with acting_for(Held(SimpleNamespace(partition=3, value=None))):
        rows["p-1"] = "first"
        rows["p-2"] = "second"
        assert rows["p-1"] == "first"
    with acting_for(Held(SimpleNamespace(partition=5, value=None))):
        del rows["p-1"]
    assert table.data == {b"p-2": b"second"}
    assert list(rows) == ["p-2"] and len(rows) == 1
    assert logged == [(table, 3, b"p-1", b"first"), (table, 3, b"p-2", b"second"),
                      (table, 5, b"p-1", None)]
    with pytest.raises(KeyError):
        rows["p-1"]


def test_a_write_outside_an_event_is_refused() -> None:
    rows = CodecTable(Table(), str.encode, bytes.decode,  # type: ignore[arg-type]
                      lambda *record: None)
    with pytest.raises(RuntimeError):
        rows["p-1"] = "first"
