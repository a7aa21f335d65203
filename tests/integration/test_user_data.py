"""Contract v2 user data on the real services: the ``dst`` day's kept keys land in
``irf_user_data`` exactly as expected-user-data.json says, invalid mappings are left out,
invalid ``user_data`` is set aside as ``bad_user_data`` without losing its event, and a
mapping added while the services run fills its new column for parties that end afterwards."""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from decimal import Decimal
from typing import Any

import psycopg
import pytest
from psycopg.rows import dict_row

from gim_faust.metrics import free_port
from tests.support import infomart
from tests.support import pipeline as pl
from tests.support import scenario as sc
from tests.support.deployment import Deployment
from tests.support.waiting import wait_until

pytestmark = [pytest.mark.integration, pytest.mark.parametrize("scenario_name", ["dst"])]
OWN_COLUMNS = {"interaction_resource_id", "interaction_id", "start_date_time_key", "start_ts",
               "end_ts", "active_flag", "version", "create_audit_key", "update_audit_key"}


def user_data_rows(d: Deployment) -> list[dict[str, Any]]:
    """irf_user_data joined to its parties, in the shape of expected-user-data.json."""
    with infomart.connect(d.infomart_db) as conn:
        resources = infomart.resources(conn, "dst")
        with conn.cursor(row_factory=dict_row) as cur:
            rows = cur.execute(
                "SELECT u.*, f.resource_key FROM irf_user_data u JOIN interaction_resource_fact f "
                "USING (interaction_resource_id, start_ts)").fetchall()
    out = []
    for row in rows:
        shaped = {name: str(value) if isinstance(value, Decimal) else value
                  for name, value in row.items() if name not in OWN_COLUMNS | {"resource_key"}}
        shaped.update(interaction_id=row["interaction_id"],
                      resource=resources[row["resource_key"]],
                      start_ts=row["start_ts"].isoformat(timespec="milliseconds")
                      .replace("+00:00", "Z"))
        out.append(shaped)
    return out


def rejected_reasons(d: Deployment) -> Counter[str]:
    rejected = asyncio.run(pl.read_topic(d.bootstrap, d.topics.rejected))
    return Counter(dict(headers)["gim-reject-reason"].decode() for _, _, headers in rejected)


def test_the_dst_day_keeps_its_user_data_and_a_second_delivery_changes_nothing(
        deployment: Deployment) -> None:
    meta = sc.expected_user_data("dst")["meta"]
    gsp, gim = deployment.through_services()
    with infomart.connect(deployment.infomart_db) as conn:
        problems = infomart.row_problems(conn, "dst")
        columns = {row[0] for row in conn.execute(
            "SELECT column_name FROM information_schema.columns "
            "WHERE table_name = 'irf_user_data'")}
    assert not problems, f"{len(problems)} differences:\n" + "\n".join(problems[:30])
    # the five valid mappings have their column; 'Bad Column' and the one naming
    # interaction_id were left out
    assert columns - OWN_COLUMNS == {column for _, column, *_ in meta["user_data_keys"]}
    problems = sc.compare_user_data("dst", user_data_rows(deployment))
    assert not problems, f"{len(problems)} differences:\n" + "\n".join(problems[:30])
    bad = Counter(b["reason"] for b in sc.bad_input("dst"))
    bad["bad_user_data"] = len(meta["bad_user_data_events"])
    assert rejected_reasons(deployment) == bad
    rejected = asyncio.run(pl.read_topic(deployment.bootstrap, deployment.topics.rejected))
    assert {json.loads(value)["event_id"] for _, value, headers in rejected
            if dict(headers)["gim-reject-reason"] == b"bad_user_data"} == set(
        meta["bad_user_data_events"])

    with infomart.connect(deployment.infomart_db) as conn:
        before = infomart.checksum(conn), conn.execute(
            "SELECT md5(string_agg(u::text, '|' ORDER BY interaction_resource_id)) "
            "FROM irf_user_data u").fetchone()
    deployment.publish_scenario()  # every event again: all repeats
    deployment.wait_gsp_caught_up(gsp)
    deployment.wait_loaded(gim)
    with infomart.connect(deployment.infomart_db) as conn:
        assert (infomart.checksum(conn), conn.execute(
            "SELECT md5(string_agg(u::text, '|' ORDER BY interaction_resource_id)) "
            "FROM irf_user_data u").fetchone()) == before
    assert rejected_reasons(deployment) == bad + bad  # bad input is set aside each time


def test_a_mapping_added_while_running_fills_its_column_for_parties_ending_afterwards(
        deployment: Deployment) -> None:
    with psycopg.connect(deployment.config_db, autocommit=True) as conn:
        conn.execute("DELETE FROM cfg_user_data_key WHERE key_name = 'Disposition'")
    messages = sc.interleaved("dst")
    middle = len(messages) // 2
    split_ts = json.loads(messages[middle].value)["ts"]
    deployment.publish(messages[:middle])
    deployment.run("gca", "run", "--once")  # the workers start with the configuration
    port = free_port()
    gca = deployment.start("gca", "run", name="gca")
    gsp = deployment.gsp(GIM_METRICS_PORT=str(port))
    gim = deployment.gim()
    deployment.wait_gsp_caught_up(gsp)
    deployment.wait_loaded(gim)
    with infomart.connect(deployment.infomart_db) as conn:
        assert not conn.execute("SELECT 1 FROM information_schema.columns WHERE "
                                "table_name = 'irf_user_data' AND column_name = 'disposition'"
                                ).fetchall()

    with psycopg.connect(deployment.config_db, autocommit=True) as conn:
        conn.execute("INSERT INTO cfg_user_data_key VALUES "
                     "(1, 'Disposition', 'disposition', 'text', 255)")
    wait_until(lambda: pl.total(pl.metrics(port), "gim_gsp_user_data_keys_kept") == 5,
               "the GSP to keep the new key", 60, service=gca, interval_s=0.2)
    deployment.publish(messages[middle:])
    deployment.wait_gsp_caught_up(gsp)
    deployment.wait_loaded(gim)

    want = {sc.user_data_identity(r): r["disposition"]
            for r in sc.expected_user_data("dst")["irf_user_data"]}
    have = {sc.user_data_identity(r): r["disposition"] for r in user_data_rows(deployment)}
    # parties that ended before the key was kept have no disposition; those of interactions
    # that began after the split (every event of theirs came after the key) have theirs
    begun_later = {r["interaction_id"] for r in sc.expected("dst")["interaction_fact"]
                   if r["start_ts"] > split_ts}
    later = {i for i in want if i[0] in begun_later and want[i] is not None}
    assert later and all(have.get(i) == want[i] for i in later)
    assert all(value is None for (_, _, start), value in have.items() if start < "2026-11-01T04")
    assert sum(value is not None for value in have.values()) < sum(
        value is not None for value in want.values())
