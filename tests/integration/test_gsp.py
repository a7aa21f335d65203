"""The Stream Processor on the real broker: the day scenario, crashes, and two workers."""

from __future__ import annotations

import asyncio
import json
import os
import random
import re
import signal
import sys
import threading
import time
from datetime import datetime

import pytest

from gim_faust.metrics import free_port
from tests.support import infomart
from tests.support import pipeline as pl
from tests.support import scenario as sc
from tests.support.deployment import Deployment
from tests.support.waiting import wait_until

pytestmark = pytest.mark.integration


def assert_facts_equal_expected(d: Deployment) -> None:
    problems = sc.compare(sc.expected(d.scenario), sc.natural_facts(d.scenario,
                                                                    d.newest_facts().values()))
    assert not problems, f"{len(problems)} differences:\n" + "\n".join(problems[:30])


def test_day_scenario_facts_and_rejects(deployment: Deployment) -> None:
    deployment.publish_scenario(partitions=3)
    deployment.run("gca", "run", "--once")
    worker = deployment.gsp()
    deployment.wait_gsp_caught_up(worker)
    assert_facts_equal_expected(deployment)
    rejected = asyncio.run(pl.read_topic(deployment.bootstrap, deployment.topics.rejected))
    reasons = sorted(dict(headers)["gim-reject-reason"].decode() for _, _, headers in rejected)
    assert reasons == sorted(b["reason"] for b in sc.bad_input(deployment.scenario))
    bad_values = {b["value"].encode() for b in sc.bad_input(deployment.scenario)}
    assert {value for _, value, _ in rejected} == bad_values  # original bytes kept


def hostile_events() -> list[dict[str, str]]:
    """Events the contract's limits reject (events.md, v2), each harmful when accepted: a
    clock 14 years ahead (it timed out every open interaction of its partition), a NUL and
    a 1,000,000-character address (the Info Mart cannot hold them; the fact was too large to
    send)."""
    def event(topic: str, **fields: object) -> dict[str, str]:
        value = {"event_id": f"hostile-{len(fields)}-{sorted(fields)[0]}", "tenant": "acme",
                 "media": "voice", "seq": 1, "ts": "2026-11-02T12:00:00.000Z", **fields}
        return {"topic": f"acme.{topic}", "value": json.dumps(value), "reason": "bad_value"}
    return [
        event("voice.interactions", type="EventQueued", interaction_id="hostile-clock",
              dn="8100", ts="2040-01-01T00:00:00.000Z"),
        event("voice.agents", type="EventAgentReady", agent_login="5001",
              ts="2040-01-01T00:00:00.000Z"),
        event("voice.interactions", type="EventQueued", interaction_id="hostile\u0000nul",
              dn="8100"),
        event("voice.interactions", type="EventRinging", interaction_id="hostile-from",
              dn="7001", **{"from": "+" * 1_000_000}),
    ]


def test_a_single_event_from_a_wrong_clock_changes_nothing(deployment: Deployment) -> None:
    """Mid-day, events the contract's limits reject arrive among the valid ones: each is
    rejected with bad_value and its original bytes, and every row is as expected."""
    day = sc.interleaved(deployment.scenario)
    hostile = hostile_events()
    deployment.publish(day[:len(day) // 2], partitions=3)
    deployment.publish([], hostile)
    deployment.publish(day[len(day) // 2:], sc.bad_input(deployment.scenario))
    deployment.run("gca", "run", "--once")
    worker = deployment.gsp()
    deployment.wait_gsp_caught_up(worker)
    assert worker.running(), worker.tail()
    assert_facts_equal_expected(deployment)
    rejected = asyncio.run(pl.read_topic(deployment.bootstrap, deployment.topics.rejected))
    bad = [*sc.bad_input(deployment.scenario), *hostile]
    assert sorted(dict(headers)["gim-reject-reason"].decode() for _, _, headers in rejected) \
        == sorted(b["reason"] for b in bad)
    assert {value for _, value, _ in rejected} == {b["value"].encode() for b in bad}


# A GSP whose rules have a bug that one interaction's events trigger, started as the real
# worker (the Python it runs, the Kafka it reads): a fault put into the product, not a mock.
BUGGY_GSP = """#!{python}
import sys
from gim_faust.transforms import interaction
rules = interaction.apply
def apply(state, event, *args):
    if event.interaction_id.startswith("poison-"):
        raise ZeroDivisionError("a bug the rules have for this interaction")
    return rules(state, event, *args)
interaction.apply = apply
from gim_faust.commands.cli import main
sys.exit(main())
"""


@pytest.mark.parametrize("workers", [1, 2])
def test_an_event_the_gsp_cannot_process_is_rejected_and_stops_nothing(
        deployment: Deployment, workers: int) -> None:
    """Mid-day, the events of one interaction make the rules raise. Each is handled again
    alone, fails again, and goes to the rejected topic with processing_error and its
    original bytes (contract events.md); every other row is as expected, the worker never
    crashed, and a restart rejects nothing again; with two workers as with one. Before, the
    worker crashed on the first of them, and again at every restart: the tenant stopped."""
    day = sc.interleaved(deployment.scenario)
    calls = [m for m in day if m.topic_suffix == "voice.interactions"]
    victim = json.loads(calls[len(calls) // 2].value)["interaction_id"]
    poison = [sc.Message(m.topic_suffix, b"poison-" + m.key, m.value.replace(
        f'"{victim}"'.encode(), f'"poison-{victim}"'.encode()).replace(
        b'"event_id":"', b'"event_id":"poison-')) for m in calls
        if json.loads(m.value)["interaction_id"] == victim]
    assert len(poison) >= 2 and all(b"poison-" in m.value for m in poison)
    deployment.publish(day[:len(day) // 2], partitions=3)
    deployment.publish(poison)
    deployment.publish(day[len(day) // 2:], sc.bad_input(deployment.scenario))
    deployment.run("gca", "run", "--once")
    program = deployment.workdir / "gsp-with-a-bug"
    program.write_text(BUGGY_GSP.format(python=sys.executable))
    program.chmod(0o755)
    ports = [free_port() for _ in range(workers)]
    running = [deployment.gsp(f"gsp-{port}", program=str(program), GIM_METRICS_PORT=str(port))
               for port in ports]
    deployment.wait_gsp_caught_up(running[0])
    for worker in running:
        assert worker.running() and "Crashed" not in worker.log.read_text(errors="replace")
    assert_facts_equal_expected(deployment)

    def processing_errors() -> list[tuple[bytes, dict[str, bytes]]]:
        rejected = asyncio.run(pl.read_topic(deployment.bootstrap, deployment.topics.rejected))
        return [(value, dict(headers)) for _, value, headers in rejected
                if dict(headers)["gim-reject-reason"] == b"processing_error"]
    found = processing_errors()
    assert sorted(value for value, _ in found) == sorted(m.value for m in poison)
    assert all(b"ZeroDivisionError" in headers["gim-reject-detail"] for _, headers in found)
    assert sum(pl.total(pl.metrics(port), "gim_gsp_events_rejected_total",
                        reason="processing_error") for port in ports) == len(poison)
    running[0].stop()
    again = deployment.gsp(f"gsp-{ports[0]}", program=str(program))
    deployment.wait_gsp_caught_up(again)
    assert again.running() and len(processing_errors()) == len(poison)


def test_kill_9_mid_stream_then_restart(deployment: Deployment) -> None:
    """kill -9 while the worker is busy with the second half of the day, then restart it on
    the same state directory (RocksDB plus the changelog's tail).

    The kill is triggered by the first output of the second half, not by a number of fact
    messages: the batched GSP sends only the newest version of a row per batch, so how many
    messages a day gives depends on how the batches fell (4,970 in one run, under the 5,000
    an earlier version of this test waited for, for ever)."""
    day = sc.interleaved(deployment.scenario)
    half = len(day) // 2
    deployment.publish(day[:half], partitions=3)
    deployment.run("gca", "run", "--once")
    worker = deployment.gsp()
    deployment.wait_gsp_caught_up(worker, timeout_s=120)
    facts = deployment.topics.facts
    before = asyncio.run(pl.end_offsets(deployment.bootstrap, facts))
    deployment.publish(day[half:], sc.bad_input(deployment.scenario))
    wait_until(lambda: asyncio.run(pl.end_offsets(deployment.bootstrap, facts)) > before,
               "the first facts of the second half", 60,
               seen=lambda: f"{facts} still at {before} messages", service=worker,
               interval_s=0.05)
    worker.kill()
    restarted = deployment.gsp()  # same state directory: RocksDB plus changelog tail
    deployment.wait_gsp_caught_up(restarted, timeout_s=120)
    assert_facts_equal_expected(deployment)
    # A static member takes its partitions back without a rebalance; a dynamic one waited
    # for the killed member's session to time out and joined a new generation.
    joins = re.findall(r"Joined group '[^']+' \(generation (\d+)\)", restarted.log.read_text())
    assert len(joins) == 2 and joins[0] == joins[1], joins


def test_two_workers_split_the_partitions(deployment: Deployment) -> None:
    deployment.publish_scenario(partitions=3)
    deployment.run("gca", "run", "--once")
    first, second = deployment.gsp("gsp-a"), deployment.gsp("gsp-b")
    deployment.wait_gsp_caught_up(first, timeout_s=120)
    assert second.running(), second.tail()
    assert_facts_equal_expected(deployment)
    assert "assigned" in first.log.read_text() and "assigned" in second.log.read_text()


def test_three_workers_a_fourth_joins_one_is_killed(deployment: Deployment) -> None:
    """Scale-out while events arrive: three workers on 6 partitions, a fourth joins while
    they work, one of the first three is killed -9 mid-stream and restarted on its state
    directory. Two rebalances and a crash later, the Info Mart equals expected.json."""
    day = sc.interleaved(deployment.scenario)
    head, rest = len(day) // 5, day[len(day) // 5:]
    deployment.publish(day[:head], partitions=6)
    deployment.run("gca", "run", "--once")
    workers = [deployment.gsp(f"gsp-{name}") for name in "abc"]
    loader = deployment.gim()
    facts = deployment.topics.facts
    publisher = trickle(deployment, rest, pieces=20, every_s=1.0)
    wait_until(lambda: asyncio.run(pl.end_offsets(deployment.bootstrap, facts)) > 0,
               "the first facts of three workers", 120, service=workers[0], interval_s=0.1)
    publisher.start()
    try:
        time.sleep(3.0)
        workers.append(deployment.gsp("gsp-d"))
        time.sleep(5.0)
        workers[1].kill()
        time.sleep(2.0)
        assert publisher.is_alive(), "the kill came after the last events; make them slower"
        workers[1] = deployment.gsp("gsp-b")  # same state directory, same instance id
    finally:
        publisher.join()
    assert_exact_once_caught_up(deployment, workers, loader)


def test_kill_9_at_20_random_points_while_events_arrive(deployment: Deployment) -> None:
    """Two workers; while the day arrives, one of them is killed -9 every 1.5-3.5 s (in
    turn, so each lives about 5 s: killed while starting, recovering, or mid-batch) and
    restarted on its state directory, 20 times."""
    seed = random.randrange(2**32)
    rng = random.Random(seed)
    day = sc.interleaved(deployment.scenario)
    deployment.publish(day[:200], partitions=3)
    deployment.run("gca", "run", "--once")
    workers = [deployment.gsp("gsp-a"), deployment.gsp("gsp-b")]
    loader = deployment.gim()
    publisher = trickle(deployment, day[200:], pieces=40, every_s=1.5)
    publisher.start()
    try:
        for kill in range(20):
            time.sleep(rng.uniform(1.5, 3.5))
            assert publisher.is_alive(), f"kill {kill} came after the last events (seed {seed})"
            victim = kill % 2
            workers[victim].kill()
            workers[victim] = deployment.gsp(f"gsp-{'ab'[victim]}")
    finally:
        publisher.join()
    assert_exact_once_caught_up(deployment, workers, loader, f" (seed {seed})")


def trickle(deployment: Deployment, messages: list[sc.Message], pieces: int,
            every_s: float) -> threading.Thread:
    """A thread that publishes ``messages`` in ``pieces``, one every ``every_s``, then the
    scenario's bad input."""
    size = len(messages) // pieces + 1

    def publish() -> None:
        for start in range(0, len(messages), size):
            deployment.publish(messages[start:start + size])
            time.sleep(every_s)
        deployment.publish([], sc.bad_input(deployment.scenario))
    return threading.Thread(target=publish)


def assert_exact_once_caught_up(deployment: Deployment, workers: list[pl.Service],
                                loader: pl.Service, context: str = "") -> None:
    """Every input committed, every worker still up, and both the fact topic and the Info
    Mart equal expected.json."""
    deployment.wait_gsp_caught_up(workers[0], timeout_s=240)
    assert all(w.running() for w in workers), [w.tail() for w in workers if not w.running()]
    assert_facts_equal_expected(deployment)
    deployment.wait_loaded(loader)
    with infomart.connect(deployment.infomart_db) as conn:
        problems = infomart.row_problems(conn, deployment.scenario)
    assert not problems, (f"{len(problems)} differences{context}:\n"
                          + "\n".join(problems[:30]))


def test_a_crashed_worker_never_looks_healthy(deployment: Deployment) -> None:
    """A state the worker cannot read (written by a newer version) crashes its batch. From
    the crash on, /healthz never answers 200 again, however long the process takes to go,
    so Kubernetes restarts a crashed worker that does not exit (issue 21, finding 3); before,
    it answered 200 until the process was gone."""
    deployment.publish(sc.interleaved(deployment.scenario)[:500], partitions=3)
    deployment.run("gca", "run", "--once")
    newer = b'{"format": 99, "state": {}, "outbox": []}'
    changelog = f"{deployment.topics.gsp_app_id}-agents-voice-changelog"
    asyncio.run(pl.create_topic(deployment.bootstrap, changelog, partitions=3))
    logins = {m.key for m in sc.interleaved(deployment.scenario)[:500]
              if m.topic_suffix == "voice.agents"}
    asyncio.run(pl.publish_to(deployment.bootstrap, changelog,
                              [(login, newer) for login in sorted(logins)]))
    port = free_port()
    worker = deployment.gsp(GIM_METRICS_PORT=str(port))
    answers: list[tuple[float, int | None]] = []

    def crashed_and_gone_or_unhealthy() -> bool:
        answers.append((time.time(), pl.healthz(port)))
        return "Crashed reason" in worker.log.read_text(errors="replace") and (
            not worker.running() or answers[-1][1] == 503)
    wait_until(crashed_and_gone_or_unhealthy, "the crashed worker to exit or fail /healthz",
               120, seen=lambda: f"/healthz answers {answers[-5:]}", interval_s=0.05)
    log = worker.log.read_text(errors="replace")
    assert "format 99" in log, worker.tail()
    stamp = re.search(r"\[(\S+ \S+)\] \[\d+\] \[ERROR\] \[\^-App\]: Crashed", log)
    assert stamp is not None, worker.tail()
    crashed = datetime.strptime(stamp[1], "%Y-%m-%d %H:%M:%S,%f").timestamp()
    assert any(code == 200 for _, code in answers), answers  # it was healthy before
    late = [(at - crashed, code) for at, code in answers if at > crashed + 0.5 and code == 200]
    assert not late, f"healthy after the crash: {late[:5]}"
    # SIGTERM stops it within the chart's grace period (gsp.terminationGracePeriodSeconds)
    # whatever state the crash left it in; one such worker ignored SIGTERM for 10 minutes.
    if worker.running():
        assert worker.proc is not None
        os.killpg(worker.proc.pid, signal.SIGTERM)
        wait_until(lambda: not worker.running(), "the crashed worker to stop on SIGTERM", 60,
                   interval_s=0.1)
