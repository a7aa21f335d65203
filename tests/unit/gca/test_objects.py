"""gim_faust.gca.objects: a DN's cfg_dn_annex rows folded into its object."""
from __future__ import annotations

from datetime import datetime, timezone

import orjson

from gim_faust.gca.changes import diff
from gim_faust.gca.config_snapshot import Snapshot, decode, encode
from gim_faust.gca.objects import build_objects
from tests.support.scenario import config_rows

DST = config_rows("dst")


def test_the_dst_options_fold_into_their_dns() -> None:
    objects = build_objects(DST)
    assert objects[("dn", 105)]["options"] == {
        "gim": {"service-level-threshold": "30", "short-abandon-threshold": "5"}}
    assert objects[("dn", 108)]["options"] == {"gim": {"service-level-threshold": "3600"}}
    # Folded as configured: judging the values is for dimensions.dn_thresholds.
    assert objects[("dn", 104)]["options"] == {"gim": {"short-abandon-threshold": "ten"}}
    assert objects[("dn", 103)]["options"] == {"other-app": {"service-level-threshold": "99"}}
    # A DN without rows has no key: its object is the one published before GCA read the table.
    assert "options" not in objects[("dn", 101)]
    assert build_objects({**DST, "cfg_dn_annex": []})[("dn", 101)] == objects[("dn", 101)]


def test_options_are_sorted_whatever_order_the_rows_come_in() -> None:
    rows = [(105, "other-app", "b", "2"), (105, "gim", "z", "1"), (105, "gim", "a", "0")]
    forwards = build_objects({**DST, "cfg_dn_annex": rows})[("dn", 105)]
    backwards = build_objects({**DST, "cfg_dn_annex": rows[::-1]})[("dn", 105)]
    assert orjson.dumps(forwards) == orjson.dumps(backwards)
    assert list(forwards["options"]) == ["gim", "other-app"]
    assert list(forwards["options"]["gim"]) == ["a", "z"]


def test_a_changed_option_republishes_only_its_dn() -> None:
    before = build_objects(DST)
    rows = [row if row[:3] != (105, "gim", "service-level-threshold") else (*row[:3], "45")
            for row in DST["cfg_dn_annex"]]
    changes = diff(before, build_objects({**DST, "cfg_dn_annex": rows}))
    assert [(c.kind, c.dbid) for c in changes] == [("dn", 105)]


def test_a_snapshot_of_dns_with_options_compares_equal() -> None:
    objects = build_objects(DST)
    snapshot = Snapshot("acme", 1, datetime(2026, 11, 1, 3, tzinfo=timezone.utc), objects)
    assert decode(encode(snapshot)).objects == objects
