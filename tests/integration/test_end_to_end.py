"""The whole product on the real services: GCA, GSP and GIM as separate processes turn the
day scenario into an Info Mart that equals expected.json row for row."""

from __future__ import annotations

from collections import Counter, defaultdict
from decimal import Decimal
from statistics import mean

import pytest
from gim_faust.loaders import summary

from tests.support import gim_worker, infomart
from tests.support import scenario as sc
from tests.support.deployment import Deployment
from tests.support.waiting import wait_until

pytestmark = pytest.mark.integration


def run_pipeline(d: Deployment) -> None:
    d.publish_scenario(partitions=3)
    d.run("gca", "run", "--once")
    gsp, gim = d.gsp(), d.gim()
    d.wait_gsp_caught_up(gsp)
    d.wait_loaded(gim)


def assert_infomart_equals_expected(d: Deployment) -> None:
    with infomart.connect(d.infomart_db) as conn:
        problems = infomart.row_problems(conn, d.scenario)
    assert not problems, f"{len(problems)} differences:\n" + "\n".join(problems[:30])


def expected_summary(name: str) -> dict[str, list[tuple]]:
    """The demo's figures computed from expected.json and the configuration, in Python,
    independently of the SQL in loaders/summary.py."""
    want, config = sc.expected(name), sc.config_rows(name)
    dn_names = {row[2]: row[4] or row[2] for row in config["cfg_dn"]}
    user_names = {row[2]: row[3] for row in config["cfg_person"]}
    by_status = Counter((r["media"], r["status"]) for r in want["interaction_fact"])
    queues: dict[str, list[dict]] = defaultdict(list)
    for r in want["mediation_segment_fact"]:
        if r["resource"][0] in ("ACDQueue", "VirtualQueue", "InteractionQueue"):
            queues[dn_names[r["resource"][1]]].append(r)
    per_queue = []
    for queue, rows in sorted(queues.items()):
        accepted = [r for r in rows if r["accepted_flag"]]
        per_queue.append((queue, len(rows), len(accepted),
                          sum(r["result"] == "ABANDONED" for r in rows),
                          round(mean(r["mediation_duration"] for r in accepted), 6),
                          round(sum(r["mediation_duration"] <= 20 for r in accepted) / len(rows),
                                6)))
    handled: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])
    for r in want["interaction_resource_fact"]:
        if r["resource"][0] == "Agent":
            h = handled[user_names[r["resource"][1]]]
            h[0] += r["customer_handle_count"]
            if r["customer_handle_count"]:
                h[1] += r["talk_duration"] + r["hold_duration"] + r["after_call_work_duration"]
    for r in want["sm_res_state_fact"]:
        if r["state"] in ("READY", "AFTER_CALL_WORK") and r["resource"][1] in user_names:
            name = user_names[r["resource"][1]]
            if name in handled:
                handled[name][2] += r["total_duration"]
    per_agent = [(name, n, round(t / n, 6) if n else None, round(t / a, 6) if a else None)
                 for name, (n, t, a) in sorted(handled.items())]
    return {"by_status": sorted((m, s, c) for (m, s), c in by_status.items()),
            "per_queue": per_queue, "per_agent": per_agent}


def actual_summary(url: str) -> dict[str, list[tuple]]:
    def rounded(rows: list[tuple]) -> list[tuple]:
        return [tuple(round(float(v), 6) if isinstance(v, Decimal) else v for v in row)
                for row in rows]
    return {"by_status": rounded(summary.query(url, summary.BY_MEDIA_AND_STATUS)),
            "per_queue": rounded(summary.query(url, summary.PER_QUEUE)),
            "per_agent": rounded(summary.query(url, summary.PER_AGENT))}


def test_day_scenario_lands_exactly_and_a_second_delivery_changes_nothing(
        deployment: Deployment) -> None:
    run_pipeline(deployment)
    assert_infomart_equals_expected(deployment)
    # the figures make demo prints, by SQL, equal the same figures computed from the facts
    assert actual_summary(deployment.infomart_db) == expected_summary(deployment.scenario)
    with infomart.connect(deployment.infomart_db) as conn:
        before = infomart.checksum(conn)
    deployment.publish_scenario(partitions=3)  # every event again: all repeats
    gsp = deployment.services[0]
    deployment.wait_gsp_caught_up(gsp)
    deployment.wait_loaded(deployment.services[1])
    with infomart.connect(deployment.infomart_db) as conn:
        assert infomart.checksum(conn) == before


def test_loader_killed_mid_load_loses_and_duplicates_nothing(deployment: Deployment) -> None:
    deployment.publish_scenario(partitions=3)
    deployment.run("gca", "run", "--once")
    gsp = deployment.gsp()
    deployment.wait_gsp_caught_up(gsp)  # a full backlog of facts for the loader
    gim = deployment.gim()
    with infomart.connect(deployment.infomart_db) as conn:
        wait_until(lambda: infomart.has_schema(conn) and sum(
            infomart.stored_offsets(conn, deployment.topics.loader_group).values()),
            "the loader's first committed batch", 120, service=gim, interval_s=0.05)
    gim.kill()
    deployment.wait_loaded(deployment.gim("gim-restarted"))
    assert_infomart_equals_expected(deployment)
    ends = gim_worker.end_offsets(deployment.bootstrap, deployment.topics.facts)
    with infomart.connect(deployment.infomart_db) as conn:
        assert infomart.stored_offsets(conn, deployment.topics.loader_group) == ends
