"""gim_faust.gca.changes: the diff, and the records the Stream Processor reads."""
from __future__ import annotations

from datetime import datetime, timezone

import orjson
import pytest
from gim_faust.transforms.config_view import ConfigView
from gim_faust.transforms.keys import dn_key, person_key

from gim_faust.gca.changes import (
    CHANGED,
    CREATED,
    DELETED,
    diff,
    format_ts,
    parse_record,
    record_key,
    records,
)
from gim_faust.gca.objects import build_objects

T = datetime(2026, 11, 2, 9, 7, 12, 123456, tzinfo=timezone.utc)

ROWS = {
    "cfg_switch": [(1, 1, "sip")],
    "cfg_person": [(1001, 1, "E1", "maya", "Maya", "Petrov", True, 1),
                   (1002, 1, "E2", "nils", "Nils", "Okafor", True, 1)],
    "cfg_agent_login": [(2001, 1, "5001"), (2002, 1, "5002")],
    "cfg_login_info": [(1001, 2001), (1002, 2002)],
    "cfg_dn": [(103, 1, "8100", "ACDQueue", "Sales"), (109, 1, "7001", "Extension", None)],
    "cfg_skill": [(301, 1, "Sales")],
    "cfg_skill_level": [(1001, 301, 5)],
    "cfg_group": [(401, 1, "Team", "Agent")],
    "cfg_group_member": [(401, 1001)],
    "cfg_enum_value": [(501, 1, "NotReadyReason", "Break", "Short break")],
}


def _rows(**changes: list[tuple]) -> dict[str, list[tuple]]:
    return {**ROWS, **changes}


def test_first_reading_creates_everything_in_reference_order() -> None:
    objects = build_objects(ROWS)
    changes = diff({}, objects)
    assert {c.key for c in changes} == set(objects)
    assert {c.op for c in changes} == {CREATED}
    kinds = [c.kind for c in changes]
    # Whatever a record refers to comes first: switch, person, dn ... agent_login after person.
    assert kinds.index("switch") < kinds.index("person") < kinds.index("agent_login")
    assert kinds.index("dn") < kinds.index("group")


def test_same_reading_changes_nothing() -> None:
    assert diff(build_objects(ROWS), build_objects(ROWS)) == []


def test_json_round_trip_changes_nothing() -> None:
    # The previous state comes back from a snapshot's JSON: it must compare equal.
    objects = build_objects(ROWS)
    restored = {k: orjson.loads(orjson.dumps(v)) for k, v in objects.items()}
    assert diff(restored, objects) == []


def test_only_the_owner_of_a_changed_row_changes() -> None:
    before = build_objects(ROWS)
    after = build_objects(_rows(
        cfg_skill_level=[(1001, 301, 9)],                       # a skill level
        cfg_group_member=[(401, 1001), (401, 1002)],           # a membership
        cfg_dn=[(103, 1, "8100", "ACDQueue", "Sales EMEA"),    # a renamed queue
                (109, 1, "7001", "Extension", None)]))
    changes = diff(before, after)
    assert [(c.kind, c.dbid, c.op) for c in changes] == [
        ("person", 1001, CHANGED), ("dn", 103, CHANGED), ("group", 401, CHANGED)]


def test_deleting_a_person_deletes_it_and_changes_its_login() -> None:
    before = build_objects(ROWS)
    after = build_objects(_rows(
        cfg_person=[ROWS["cfg_person"][0]], cfg_login_info=[(1001, 2001)],
        cfg_group_member=[(401, 1001)]))
    changes = diff(before, after)
    assert [(c.kind, c.dbid, c.op) for c in changes] == [
        ("agent_login", 2002, CHANGED), ("person", 1002, DELETED)]
    assert changes[0].obj is not None and changes[0].obj["person_dbid"] is None
    assert changes[1].obj is None


def test_deletions_come_last_in_reverse_reference_order() -> None:
    before = build_objects(ROWS)
    changes = diff(before, {})
    kinds = [c.kind for c in changes]
    assert {c.op for c in changes} == {DELETED}
    assert kinds.index("agent_login") < kinds.index("person") < kinds.index("switch")


def test_record_key_value_and_tombstone() -> None:
    objects = build_objects(ROWS)
    changes = diff({}, objects) + diff({("person", 9): {"x": 1}}, {})
    published = records(changes, "acme", T)
    by_key = dict(published)
    value = orjson.loads(by_key[b"person:1001"])
    assert value == {"schema": 1, "tenant": "acme", "kind": "person", "dbid": 1001,
                     "op": "created", "object": objects[("person", 1001)],
                     "observed_ts": "2026-11-02T09:07:12.123Z"}
    assert by_key[b"person:9"] is None
    assert record_key("dn", 103) == b"dn:103"


def test_format_ts_has_milliseconds_and_z() -> None:
    assert format_ts(datetime(2026, 1, 2, 3, 4, 5, tzinfo=timezone.utc)) == \
        "2026-01-02T03:04:05.000Z"


def test_parse_record_round_trip_and_errors() -> None:
    (key, value), = records(diff({}, {("dn", 103): {"number": "8100"}}), "acme", T)
    assert parse_record(key, value) == ("dn", 103, {"number": "8100"})
    assert parse_record(b"dn:103", None) == ("dn", 103, None)
    for bad_key in (b"dn", b":1", b"dn:x"):
        with pytest.raises(ValueError):
            parse_record(bad_key, None)
    with pytest.raises(ValueError):
        parse_record(b"dn:1", b'{"kind": "dn"}')


def test_the_stream_processor_view_follows_the_records() -> None:
    """What GCA publishes is what transforms/config_view.py reads: logins, DNs, reasons."""
    view = ConfigView()
    before, after = build_objects(ROWS), build_objects(_rows(
        cfg_person=[ROWS["cfg_person"][0]], cfg_login_info=[(1001, 2001)]))
    for changes in (diff({}, before), diff(before, after)):
        for key, value in records(changes, "acme", T):
            view.apply(*parse_record(key, value))
    assert view.agent("5001").resource_key == person_key(1001)
    assert view.agent("5002").placeholder is not None       # its person is gone
    assert view.dn("8100").resource_key == dn_key(103)
    assert view.dn("8100").dn_type == "ACDQueue"
    assert view.reasons == {"Break"}
