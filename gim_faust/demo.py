"""``make demo``: the three services on a simulated contact-center day, and what landed.

It seeds a Configuration Database with the day's configuration, publishes the day's raw
events (repeats and bad input included) to fresh topics, runs ``gca run --once``, starts a
GSP worker and a GIM loader as separate processes, shows progress until the Info Mart holds
everything, then prints a summary computed by SQL on the Info Mart (``loaders/summary.py``)
and writes the HTML report with charts (``loaders/report.py``) to ``var/demo/report.html``.

The day comes from ``tests/data/scenarios/day``: 8 hours, 12 voice and 4 digital agents,
made by a simulator independent of this project. The project's own simulator
(``gim-faust simulate``) is not written yet.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import subprocess
import sys
import time
from pathlib import Path

import psycopg
from aiokafka import AIOKafkaProducer

from gim_faust.kafka import TopicSpec, ensure_topics, group_lag, topic_size
from gim_faust.loaders import report, summary
from gim_faust.settings import Settings, load_settings
from gim_faust.topics import RAW_SUFFIXES, Topics

REPO = Path(__file__).resolve().parent.parent
SCENARIO = REPO / "tests" / "data" / "scenarios" / "day"
CONFIG_SCHEMA = REPO / "tests" / "data" / "config-db.sql"


def _recreate(admin_url: str, name: str) -> str:
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    return admin_url.rsplit("/", 1)[0] + f"/{name}"


async def _publish(settings: Settings, topics: Topics) -> int:
    await ensure_topics(settings, [TopicSpec(topics.raw(s), 3) for s in RAW_SUFFIXES])
    producer = AIOKafkaProducer(bootstrap_servers=settings.kafka_bootstrap, linger_ms=5)
    await producer.start()
    count = 0
    try:
        for suffix in RAW_SUFFIXES:
            for line in (SCENARIO / f"acme.{suffix}.jsonl").read_bytes().splitlines():
                event = json.loads(line)
                key = (event.get("interaction_id") or event["agent_login"]).encode()
                await producer.send(topics.raw(suffix), line, key=key)
                count += 1
        for line in (SCENARIO / "bad-input.jsonl").read_text().splitlines():
            bad = json.loads(line)
            await producer.send(topics.raw(bad["topic"].split(".", 1)[1]),
                                bad["value"].encode(), key=b"bad")
            count += 1
        await producer.flush()
    finally:
        await producer.stop()
    return count


def _wait(settings: Settings, topics: Topics, infomart_url: str,
          services: list[subprocess.Popen[bytes]], total: int) -> None:
    """Show progress until the GSP has committed every input and the loader has stored
    every fact version the GSP sent."""
    inputs = [*topics.raw_all, topics.party_ended("voice"), topics.party_ended("digital")]
    deadline = time.monotonic() + 600
    while True:
        if any(p.poll() is not None for p in services):
            raise SystemExit("\na service stopped early; see var/demo/*.log")
        if time.monotonic() > deadline:
            raise SystemExit("\nnot finished within 10 minutes; see var/demo/*.log")
        lag = asyncio.run(group_lag(settings, topics.gsp_app_id, inputs))
        facts = asyncio.run(topic_size(settings, topics.facts))
        stored = summary.loaded_offsets(infomart_url, topics.loader_group)
        done = 0.0 if lag is None else max(0.0, 1 - lag / total)
        bar = "#" * int(done * 30)
        sys.stdout.write(f"\rGSP [{bar:<30}] {done:4.0%}   GIM loaded {stored:>6} of {facts:>6}"
                         " fact versions")
        sys.stdout.flush()
        if lag == 0 and facts and stored >= facts:
            sys.stdout.write("\n")
            return
        time.sleep(1.0)


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.ERROR)  # the clients' retry warnings are noise here
    parser = argparse.ArgumentParser(prog="python -m gim_faust.demo", description=__doc__)
    parser.add_argument("--admin-url", default=os.environ.get(
        "GIM_TEST_PG_URL", "postgresql://127.0.0.1:5432/postgres"))
    args = parser.parse_args(argv)
    prefix = f"demo{int(time.time())}"
    workdir = REPO / "var" / "demo"
    workdir.mkdir(parents=True, exist_ok=True)
    config_url = _recreate(args.admin_url, "gim_demo_config")
    infomart_url = _recreate(args.admin_url, "gim_demo_infomart")
    with psycopg.connect(config_url, autocommit=True) as conn:
        conn.execute(CONFIG_SCHEMA.read_text())
        conn.execute((SCENARIO / "config.sql").read_text())
    env = {**os.environ, "GIM_TENANT": "acme", "GIM_TOPIC_PREFIX": prefix,
           "GIM_CONFIG_DB_URL": config_url, "GIM_INFOMART_DB_URL": infomart_url,
           "GIM_OBJECT_STORE": f"file://{workdir / 'objects'}",
           "GIM_STATE_DIR": str(workdir / f"state-{prefix}"),
           "GIM_INTERACTION_TIMEOUT": "1800"}
    settings = load_settings(environ=env)
    topics = Topics(prefix)
    print(f"tenant acme, topic prefix {prefix}; logs in {workdir}")
    total = asyncio.run(_publish(settings, topics))
    print(f"published {total} raw messages (the day, repeats and 14 bad messages)")
    command = [sys.executable, "-m", "gim_faust"]
    subprocess.run([*command, "gca", "run", "--once"], env=env, check=True,
                   stdout=(workdir / "gca.log").open("wb"), stderr=subprocess.STDOUT)
    print("GCA published the configuration and filled the Info Mart dimensions")
    services = [subprocess.Popen([*command, service, "worker"], env=env,
                                 stdout=(workdir / f"{service}.log").open("wb"),
                                 stderr=subprocess.STDOUT, start_new_session=True)
                for service in ("gsp", "gim")]
    try:
        _wait(settings, topics, infomart_url, services, total)
    finally:
        for process in services:
            process.terminate()
        for process in services:
            process.wait(timeout=60)
    print(summary.render(infomart_url))
    html = workdir / "report.html"
    html.write_text(report.build(infomart_url), encoding="utf-8")
    print(f"\nHTML report with charts: {html}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
