"""``make demo``: the three services on a simulated contact-center day, and what landed.

It simulates a day with ``gim-faust simulate``'s model (``gim_faust.simulate``: by default 20
agents, 16 on the phones and 4 on chat and email, 8 hours from 08:00 UTC yesterday), writes
its configuration into a fresh Configuration Database and its raw events into fresh topics,
runs ``gca run --once``, starts a GSP worker and a GIM loader as separate processes, shows
progress until the Info Mart holds everything and its aggregates are current, then prints a
summary computed by SQL on the Info Mart (``loaders/summary.py``: queue and agent figures per
local hour of ``GIM_TIMEZONE``, from the aggregate tables) and writes the HTML report with
charts (``loaders/html_report.py``) to ``var/demo/report.html``.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from gim_faust import postgres
from gim_faust.kafka import group_lag, topic_size
from gim_faust.loaders import html_report, summary
from gim_faust.metrics import free_port
from gim_faust.settings import Settings, load_settings
from gim_faust.simulate import SimOptions, generate, write_configuration
from gim_faust.simulate.publish import publish
from gim_faust.topics import Topics

REPO = Path(__file__).resolve().parents[2]
TENANT = "acme"


def _recreate(admin_url: str, name: str) -> str:
    with postgres.connect(admin_url, "gim-faust demo") as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    return admin_url.rsplit("/", 1)[0] + f"/{name}"


def _events_read(port: int) -> int:
    """Raw events the GSP worker has read so far, from its /metrics (0 until it serves)."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2) as answer:
            text = answer.read().decode()
    except OSError:
        return 0
    return int(sum(sample.value for family in text_string_to_metric_families(text)
                   if family.name == "gim_gsp_events_in" for sample in family.samples
                   if sample.name.endswith("_total")))


def _wait(settings: Settings, topics: Topics, infomart_url: str,
          services: list[subprocess.Popen[bytes]], total: int, gsp_port: int) -> None:
    """Show progress until the GSP has committed every input, the loader has stored every
    fact version the GSP sent and the aggregates reflect them all: the loader notes the
    intervals to recompute in the transaction that stores the facts, so none is pending once
    both hold (read in this order)."""
    inputs = [*topics.raw_all, topics.party_ended("voice"), topics.party_ended("digital")]
    deadline = time.monotonic() + 600
    while True:
        if any(p.poll() is not None for p in services):
            raise SystemExit("\na service stopped early; see var/demo/*.log")
        if time.monotonic() > deadline:
            raise SystemExit("\nnot finished within 10 minutes; see var/demo/*.log")
        lag = asyncio.run(group_lag(settings.kafka, topics.gsp_app_id, inputs))
        facts = asyncio.run(topic_size(settings.kafka, topics.facts))
        stored = summary.loaded_offsets(infomart_url, topics.loader_group)
        pending = summary.pending_intervals(infomart_url)
        done = min(1.0, _events_read(gsp_port) / total)
        bar = "#" * int(done * 30)
        sys.stdout.write(f"\rGSP read [{bar:<30}] {done:4.0%}   GIM loaded {stored:>6} of "
                         f"{facts:>6} fact versions, {pending:>4} intervals to aggregate")
        sys.stdout.flush()
        if lag == 0 and facts and stored >= facts and pending == 0:
            sys.stdout.write("\n")
            return
        time.sleep(1.0)


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.ERROR)  # the clients' retry warnings are noise here
    parser = argparse.ArgumentParser(prog="python -m gim_faust.commands.demo", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--admin-url", default=os.environ.get(
        "GIM_TEST_PG_URL", "postgresql://127.0.0.1:5432/postgres"))
    parser.add_argument("--agents", type=int, default=20, help="agents (default 20)")
    parser.add_argument("--hours", type=float, default=8.0, help="length of the day (default 8)")
    parser.add_argument("--seed", type=int, default=1, help="seed of the day (default 1)")
    args = parser.parse_args(argv)
    began = time.monotonic()
    prefix = f"demo{int(time.time())}"
    workdir = REPO / "var" / "demo"
    workdir.mkdir(parents=True, exist_ok=True)
    config_url = _recreate(args.admin_url, "gim_demo_config")
    infomart_url = _recreate(args.admin_url, "gim_demo_infomart")
    options = SimOptions(TENANT, agents=args.agents, hours=args.hours, seed=args.seed)
    write_configuration(config_url, options)
    env = {**os.environ, "GIM_TENANT": TENANT, "GIM_TOPIC_PREFIX": prefix,
           "GIM_CONFIG_DB_URL": config_url, "GIM_INFOMART_DB_URL": infomart_url,
           "GIM_OBJECT_STORE": f"file://{workdir / 'objects'}",
           "GIM_STATE_DIR": str(workdir / f"state-{prefix}")}
    settings = load_settings(environ=env)
    topics = Topics(prefix)
    print(f"tenant {TENANT}, topic prefix {prefix}; logs in {workdir}")
    total = asyncio.run(publish(settings, generate(options)))
    print(f"simulated {options.start:%Y-%m-%d %H:%M} UTC + {options.hours:g} h with "
          f"{options.voice_agents} voice and {options.digital_agents} digital agents: "
          f"published {total} raw events")
    command = [sys.executable, "-m", "gim_faust"]
    subprocess.run([*command, "gca", "run", "--once"], env=env, check=True,
                   stdout=(workdir / "gca.log").open("wb"), stderr=subprocess.STDOUT)
    print("GCA published the configuration and filled the Info Mart dimensions")
    ports = {service: free_port() for service in ("gsp", "gim")}
    services = [subprocess.Popen([*command, service, "worker"],
                                 env={**env, "GIM_METRICS_PORT": str(port)},
                                 stdout=(workdir / f"{service}.log").open("wb"),
                                 stderr=subprocess.STDOUT, start_new_session=True)
                for service, port in ports.items()]
    try:
        _wait(settings, topics, infomart_url, services, total, ports["gsp"])
    finally:
        for process in services:
            process.terminate()
        for process in services:
            process.wait(timeout=60)
    print(summary.render(infomart_url, settings.timezone))
    html = workdir / "report.html"
    html.write_text(html_report.build(infomart_url, settings.timezone), encoding="utf-8")
    print(f"\nHTML report with charts: {html}")
    print(f"(done in {time.monotonic() - began:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
