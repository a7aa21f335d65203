"""GSP disaster recovery and reprocessing on the real services: a snapshot taken halfway
through the day, a worker that lost its disk restored from it, a corrupted snapshot refused,
and a replay of the raw topics into a fresh group that leaves the Info Mart as it was."""

from __future__ import annotations

import asyncio
import dataclasses
import shutil
from datetime import UTC, datetime
from typing import Any

import orjson
import pytest
from aiokafka import TopicPartition
from aiokafka.admin import RecordsToDelete
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

from gim_faust.kafka import admin_client, committed_offsets, end_offsets
from gim_faust.metrics import free_port
from gim_faust.objectstore import open_store
from tests.integration.test_end_to_end import assert_infomart_equals_expected
from tests.support import infomart
from tests.support import pipeline as pl
from tests.support import scenario as sc
from tests.support.deployment import Deployment
from tests.support.waiting import wait_until

pytestmark = pytest.mark.integration


def unversioned(rows: dict[tuple[str, str], Any]) -> dict[tuple[str, str], Any]:
    """Rows without their version: the after-call-work join numbers a re-emitted row after
    what it has seen, so another delivery order may give the same row a higher version."""
    return {key: dataclasses.replace(row, version=0) for key, row in rows.items()}


def changelog_records(d: Deployment) -> int:
    """Every record the GSP's changelog topics have received."""
    names = [f"{d.topics.gsp_app_id}-{t}-{c}-changelog" for t in ("interactions", "agents",
                                                                    "party-facts")
             for c in ("voice", "digital")]
    return sum(asyncio.run(end_offsets(pl.settings_for(d.bootstrap).kafka, names)).values())


class HalfDay:
    """The day in three parts: the first half, a quarter processed after the snapshot (the
    changelog tail a restore must replay), and the rest with the bad input."""

    def __init__(self, d: Deployment) -> None:
        self.d, self.port = d, free_port()
        messages = list(sc.messages(d.scenario))
        half, three_quarters = len(messages) // 2, len(messages) * 3 // 4
        self.parts = [messages[:half], messages[half:three_quarters], messages[three_quarters:]]
        self.env = {"GIM_METRICS_PORT": str(self.port), "GIM_SNAPSHOT_INTERVAL": "3600"}

    def gsp(self) -> pl.Service:
        return self.d.gsp(**self.env)

    def snapshot_then_lose_the_disk(self) -> dict:
        d = self.d
        d.publish(self.parts[0])
        d.run("gca", "run", "--once")
        worker = self.gsp()
        d.wait_gsp_caught_up(worker)
        taken = orjson.loads(d.run("gsp", "snapshot", **self.env).stdout)
        d.publish(self.parts[1])
        d.wait_gsp_caught_up(worker)
        worker.stop()
        shutil.rmtree(d.state_dir())
        return taken

    def finish(self, worker: pl.Service) -> None:
        d = self.d
        d.publish(self.parts[2], sc.bad_input(d.scenario))
        d.wait_gsp_caught_up(worker)
        d.wait_loaded(d.gim())
        assert_infomart_equals_expected(d)


def test_restore_from_a_snapshot_replays_only_the_changelog_tail(deployment: Deployment) -> None:
    day = HalfDay(deployment)
    taken = day.snapshot_then_lose_the_disk()
    assert taken["stores"] > 0 and taken["bytes"] > 0
    keys = open_store(deployment.store).list(taken["prefix"])
    assert any(k.endswith(f"{taken['snapshot_id']}/MANIFEST.json") for k in keys)
    changelog = changelog_records(deployment)

    worker = day.gsp()  # no local state: restores the snapshot on its own
    pl.wait_ready(day.port, worker)
    samples = pl.metrics(day.port)
    assert pl.total(samples, "gim_gsp_restores_total", result="ok") == 1
    tail = pl.total(samples, "gim_gsp_restore_changelog_tail_records")
    recovered = pl.total(samples, "gim_gsp_changelog_records_recovered_total")
    assert 0 < recovered == tail < changelog / 2, (recovered, tail, changelog)
    # a second worker cannot take the same state directory, nor can a restore under it
    refused = deployment.run("gsp", "restore", check=False,
                             GIM_STATE_DIR=str(deployment.state_dir()))
    assert refused.returncode == 1 and "another GSP process" in refused.stderr
    day.finish(worker)


def test_a_corrupted_snapshot_is_refused_and_the_changelog_rebuilds_everything(
        deployment: Deployment) -> None:
    day = HalfDay(deployment)
    taken = day.snapshot_then_lose_the_disk()
    store = open_store(deployment.store)
    victim = next(k for k in store.list(taken["prefix"]) if k.endswith(".sst"))
    store.put(victim, b"not what the manifest hashed")

    done = deployment.run("gsp", "restore", check=False,
                          GIM_STATE_DIR=str(deployment.state_dir()))
    assert done.returncode == 1 and "no usable snapshot" in done.stdout
    assert "does not match its checksum" in done.stderr
    changelog = changelog_records(deployment)
    worker = day.gsp()
    pl.wait_ready(day.port, worker)
    samples = pl.metrics(day.port)
    assert pl.total(samples, "gim_gsp_snapshots_refused_total") == 1
    assert pl.total(samples, "gim_gsp_restores_total", result="none") == 1
    assert pl.total(samples, "gim_gsp_restores_total", result="ok") == 0
    assert pl.total(samples, "gim_gsp_changelog_records_recovered_total") == changelog
    day.finish(worker)


def test_a_snapshot_the_changelog_no_longer_covers_is_refused(deployment: Deployment) -> None:
    day = HalfDay(deployment)
    taken = day.snapshot_then_lose_the_disk()
    manifest = orjson.loads(open_store(deployment.store).get(
        f"{taken['prefix']}{taken['snapshot_id']}/MANIFEST.json"))
    store = next(p for p in manifest["partitions"] if p["changelog_offset"] is not None)
    tp = TopicPartition(store["changelog_topic"], store["partition"])

    async def delete_up_to_the_end() -> None:
        """What time retention does to a changelog run with cleanup.policy=compact,delete
        (Kafka deletes records only from topics with a delete policy)."""
        async with admin_client(pl.settings_for(deployment.bootstrap).kafka) as admin:
            await admin.alter_configs([ConfigResource(ConfigResourceType.TOPIC, tp.topic,
                                                      {"cleanup.policy": "compact,delete"})])
            end = await end_offsets(pl.settings_for(deployment.bootstrap).kafka, [tp.topic])
            await admin.delete_records({tp: RecordsToDelete(end[tp])})
    asyncio.run(delete_up_to_the_end())
    done = deployment.run("gsp", "restore", check=False,
                          GIM_STATE_DIR=str(deployment.state_dir()))
    assert done.returncode == 1
    assert f"{tp.topic}[{tp.partition}] now starts at offset" in done.stderr


def test_replaying_the_raw_topics_into_a_fresh_group_changes_nothing(
        deployment: Deployment) -> None:
    d = deployment
    gsp, gim = d.through_services()
    with infomart.connect(d.infomart_db) as conn:
        before = infomart.checksum(conn)
    topics = [arg for t in d.topics.raw_all for arg in ("--topic", t)]
    busy = d.run("replay", *topics, "--from-time", "2000-01-01T00:00:00Z", check=False)
    assert busy.returncode == 1 and "stop its workers first" in busy.stderr  # the live GSP

    fresh = f"{d.topics.gsp_app_id}-replay"
    dry = d.run("replay", *topics, "--from-time", "2000-01-01T00:00:00Z", "--group", fresh,
                "--dry-run")
    assert "dry run: nothing changed" in dry.stdout
    d.run("replay", *topics, "--from-time", "2000-01-01T00:00:00Z", "--group", fresh)
    settings = pl.settings_for(d.bootstrap)
    raw_ends = asyncio.run(end_offsets(settings.kafka, list(d.topics.raw_all)))
    assert asyncio.run(committed_offsets(settings.kafka, fresh, list(raw_ends))) \
        == dict.fromkeys(raw_ends, 0)
    first = asyncio.run(pl.read_topic(d.bootstrap, d.topics.facts))
    replay_started = datetime.now(UTC)
    replayer = d.gsp("gsp-replay", GIM_GSP_APP_ID=fresh)
    d.wait_gsp_caught_up(replayer, app_id=fresh)
    d.wait_loaded(gim)
    after = asyncio.run(pl.read_topic(d.bootstrap, d.topics.facts))
    rows = pl.newest_facts(first)
    assert len(after) - len(first) >= len(rows)   # the replay sent every row again ...
    assert unversioned(pl.newest_facts(after)) == unversioned(rows)   # ... the same content
    with infomart.connect(d.infomart_db) as conn:
        assert infomart.checksum(conn) == before

    # The loader's positions live in the Info Mart: replay moves them there.
    gim.stop()
    d.run("replay", "--topic", d.topics.facts, "--from-time", replay_started.isoformat())
    fact_ends = asyncio.run(end_offsets(settings.kafka, [d.topics.facts]))
    with infomart.connect(d.infomart_db) as conn:
        moved = infomart.stored_offsets(conn, d.topics.loader_group)
    assert sum(fact_ends[tp] - moved[tp.partition] for tp in fact_ends) == len(after) - len(first)
    d.wait_loaded(d.gim("gim-again"))
    with infomart.connect(d.infomart_db) as conn:
        assert infomart.checksum(conn) == before


def test_snapshots_are_taken_on_schedule_and_the_newest_are_kept(deployment: Deployment) -> None:
    port = free_port()
    deployment.publish_scenario()
    deployment.run("gca", "run", "--once")
    worker = deployment.gsp(GIM_METRICS_PORT=str(port), GIM_SNAPSHOT_INTERVAL="1",
                            GIM_SNAPSHOT_KEEP="2", GIM_GSP_INSTANCE_ID="gsp-7")
    def snapshots(result: str) -> float:
        return pl.total(pl.metrics(port) if pl.ready(port) else {}, "gim_gsp_snapshots_total",
                        result=result)
    wait_until(lambda: snapshots("ok") >= 4, "four scheduled snapshots", 180,
               seen=lambda: f"ok {snapshots('ok')}, failed {snapshots('failed')}, skipped "
                            f"{snapshots('skipped')}", service=worker, interval_s=0.5)
    samples = pl.metrics(port)
    assert pl.total(samples, "gim_gsp_snapshot_last_bytes") > 0
    assert pl.total(samples, "gim_gsp_snapshot_interval_seconds") == 1
    assert pl.total(samples, "gim_gsp_snapshot_age_seconds") < 120
    keys = open_store(deployment.store).list(
        f"acme/gsp/snapshots/{deployment.topics.gsp_app_id}/gsp-7/")
    # 4 or more taken, 2 kept (3 for a moment: a new manifest is written before pruning)
    assert 2 <= sum(k.endswith("/MANIFEST.json") for k in keys) <= 3



def test_recovering_without_any_snapshot_is_refused(deployment: Deployment) -> None:
    """``gsp recover`` with no snapshot to use (a wrong store or app id, most likely) would
    wipe the changelogs and reprocess from the start: it refuses, and changes nothing."""
    deployment.publish(list(sc.messages(deployment.scenario))[:100])
    refused = deployment.run("gsp", "recover", check=False)
    assert refused.returncode == 1, refused.stderr
    assert "no usable snapshot of app" in refused.stderr and "GIM_OBJECT_STORE" in refused.stderr
